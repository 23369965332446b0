"""Serve each DAG run's step records (JSON records, HTML reports) from the artifact store in the UI.

Registers a FastAPI app under ``/mlcycle`` and two external views, so a DAG run's or a task
instance's page gets an "mlcycle records" tab listing ``runs/<dag_id>/<run_key>/`` of the store.

Access uses Airflow's own authentication: the JWT from ``Authorization: Bearer …`` or, for the
UI (its iframe tab or a new browser tab of the same origin), the ``_token`` cookie set at login;
the caller needs read access to the DAG's runs. Importing this module is cheap: FastAPI and
mlcycle's settings/storage only; Airflow's API security module is imported at the first request.
"""

from __future__ import annotations

import functools
import html
import mimetypes
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlsplit, urlunsplit

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mlcycle.adapters.store import (
    ArtifactStore,
    open_store,
)
from mlcycle.config.settings import load_settings
from mlcycle.core.names import record_key, run_key
from mlcycle.errors import StorageError

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

URL_PREFIX = "/mlcycle"
# A record is one flat file of the run's folder: no separators, no leading dot (temp files, "..").
RECORD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
CONTENT_TYPES = {
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
}
# Shown inline; anything else is sent as a download.
INLINE = ("application/json", "text/", "image/png", "image/svg+xml")
# Our own pages run no script. A stored report runs its own scripts (Evidently's does), and it embeds
# data values unescaped in a <script> block, so a crafted category value would run as script too:
# the CSP sandbox gives the report an opaque origin, away from the UI's `_token` cookie and the API.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"
REPORT_CSP = "sandbox allow-scripts allow-popups allow-downloads; frame-ancestors 'self'"

_bearer = HTTPBearer(auto_error=False)


async def airflow_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> BaseUser:
    """The caller as Airflow's core API resolves it: Bearer header first, else the ``_token`` cookie."""
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, None, credentials)


def authorize_run_read(request: Request, user: Annotated[Any, Depends(airflow_user)]) -> None:
    """Require GET on the runs of the URL's ``dag_id`` (the check the core API makes for a DAG run)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    requires_access_dag("GET", DagAccessEntity.RUN)(request, user)


app = FastAPI(
    title="mlcycle run records",
    description="Step records and reports of mlcycle DAG runs, read from the artifact store.",
    dependencies=[Depends(authorize_run_read)],
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


@functools.lru_cache(maxsize=4)
def _store(root: str) -> ArtifactStore:
    return open_store(root)


def _root_for_humans() -> str:
    """The configured artifact root for messages, with any user:password@ part masked."""
    configured = os.environ.get("MLCYCLE_ARTIFACT_ROOT")
    root = load_settings().artifact_root
    parts = urlsplit(root)
    if "@" in parts.netloc:
        root = urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
    return root if configured else f"unset, so the default {root}"


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:1.5rem;}"
        "table{border-collapse:collapse}td,th{padding:.25rem .75rem;text-align:left}"
        "td.size{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.9em}</style>"
        f"</head><body>{body}</body></html>"
    )
    headers = {"Cache-Control": "private, no-cache", "Content-Security-Policy": PAGE_CSP}
    return HTMLResponse(doc, status_code=status_code, headers=headers)


def _problem(status_code: int, message: str) -> HTMLResponse:
    return _page("mlcycle records", f"<p>{html.escape(message)}</p>", status_code)


def _run_prefix(dag_id: str, run_id: str) -> str | None:
    """``runs/<dag>/<run>`` in the store, or None if either id maps to an unusable folder name."""
    if any(run_key(part) in ("", ".", "..") for part in (dag_id, run_id)):
        return None
    return record_key(dag_id, run_id, "").rstrip("/")


def _size(store: ArtifactStore, key: str) -> int | None:
    """Object size in bytes, or None where the store cannot tell (the record is still linked)."""
    return store.size(key)


def _human_size(size: int | None) -> str:
    if size is None:
        return "?"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


@app.get("/runs/{dag_id}/{run_id}/", response_class=HTMLResponse)
def run_index(dag_id: str, run_id: str) -> HTMLResponse:
    """An HTML list of the run's records, each linked, with its size."""
    prefix = _run_prefix(dag_id, run_id)
    if prefix is None:
        return _problem(400, f"DAG id {dag_id!r} or run id {run_id!r} cannot name a run folder")
    store = _store(load_settings().artifact_root)
    try:
        keys = store.list_keys(prefix)
    except StorageError as exc:
        return _problem(502, f"cannot list the records of run {run_id} of DAG {dag_id}: {exc}")
    names = [key[len(prefix) + 1 :] for key in keys]
    names = [name for name in names if RECORD_NAME.match(name)]
    if not names:
        return _problem(
            404,
            f"no records for run {run_id} of DAG {dag_id}: the run has not produced any yet, "
            f"or artifacts live elsewhere — MLCYCLE_ARTIFACT_ROOT is {_root_for_humans()}",
        )
    rows = "".join(
        f"<tr><td><a href='{quote(name)}'>{html.escape(name)}</a></td>"
        f"<td class='size'>{_human_size(_size(store, f'{prefix}/{name}'))}</td>"
        f"<td>{html.escape(_content_type(name).split(';')[0])}</td></tr>"
        for name in names
    )
    body = (
        f"<h2>{html.escape(dag_id)} · {html.escape(run_id)}</h2>"
        f"<table><thead><tr><th>record</th><th>size</th><th>type</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p><small>from <code>{html.escape(store.uri(prefix))}</code></small></p>"
    )
    return _page(f"{dag_id} · {run_id} — mlcycle records", body)


@app.get("/runs/{dag_id}/{run_id}/{name}")
def run_record(dag_id: str, run_id: str, name: str) -> Response:
    """One record: JSON as application/json, HTML inline, anything else as a download."""
    prefix = _run_prefix(dag_id, run_id)
    if prefix is None:
        return _problem(400, f"DAG id {dag_id!r} or run id {run_id!r} cannot name a run folder")
    if not RECORD_NAME.match(name) or ".." in name:
        return _problem(400, f"{name!r} is not a record name: use a file name from the run's index")
    store = _store(load_settings().artifact_root)
    key = f"{prefix}/{name}"
    try:
        if not store.exists(key):
            return _problem(404, f"no record {name} for run {run_id} of DAG {dag_id}")
        data = store.read_bytes(key)
    except StorageError as exc:
        return _problem(502, f"cannot read record {name} of run {run_id} of DAG {dag_id}: {exc}")
    media_type = _content_type(name)
    disposition = "inline" if media_type.startswith(INLINE) else "attachment"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
        "Content-Security-Policy": REPORT_CSP,
    }
    return Response(data, media_type=media_type, headers=headers)


# Airflow substitutes {DAG_ID} and {RUN_ID} (URL-encoded) and shows the page in a tab's iframe.
RUN_RECORDS_HREF = f"{URL_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}/"


class MlcycleReportsPlugin(AirflowPlugin):
    name = "mlcycle_reports"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "mlcycle run records"}]
    # Airflow 3.3 cannot narrow a view to DAGs with a tag: the tab shows on every DAG's pages and
    # the index explains when a run has no records. A view needs its own url_route to get a tab.
    external_views = [
        {
            "name": "mlcycle records",
            "href": RUN_RECORDS_HREF,
            "destination": "task_instance",
            "url_route": "mlcycle-task-records",
        },
        {
            "name": "mlcycle records",
            "href": RUN_RECORDS_HREF,
            "destination": "dag_run",
            "url_route": "mlcycle-run-records",
        },
    ]
