"""The mlcycle_reports and mlcycle_links plugins inside a real ``airflow api-server``
(the records app alone: tests/unit/airflow/test_reports_plugin.py)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mlcycle.adapters.store import LocalArtifactStore
from mlcycle.core.names import record_key
from tests.support.fixtures import (
    AIRFLOW_HEALTH,
    LOOPBACK,
    _healthy,
    _wait_until,
    free_port,
    spawn,
    stop_process_group,
)
from tests.unit.airflow.test_reports_plugin import DAG_ID, INGEST, PLUGINS, RUN_ID, run_url

AIRFLOW_BIN = Path(sys.executable).with_name("airflow")


# --------------------------------------------------------------------------- real api-server


@dataclass(frozen=True)
class ApiServer:
    url: str
    password: str
    artifacts: Path
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "<no log>"

    def token(self) -> str:
        resp = httpx.post(f"{self.url}/auth/token", json={"username": "admin", "password": self.password})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["access_token"])


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free loopback port: SQLite, simple auth, this project's plugins."""
    base = tmp_path_factory.mktemp("api-server")
    password = secrets.token_urlsafe(12)
    (base / "passwords.json").write_text(json.dumps({"admin": password}))
    (base / "dags").mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(base / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(base / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(base / "passwords.json"),
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "MLCYCLE_ARTIFACT_ROOT": str(base / "artifacts"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    migrate = subprocess.run(
        [str(AIRFLOW_BIN), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    if migrate.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{(migrate.stdout + migrate.stderr)[-3000:]}", pytrace=False)
    port = free_port()
    server = ApiServer(f"http://{LOOPBACK}:{port}", password, base / "artifacts", base / "api-server.log")
    cmd = [
        str(AIRFLOW_BIN),
        "api-server",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
        "--apps",
        "core",
    ]
    proc = spawn(cmd, env, server.log_path)
    try:
        _wait_until(
            lambda: proc.poll() is not None or _healthy(server.url, AIRFLOW_HEALTH),
            timeout=120,
            interval=0.25,
        )
        if not _healthy(server.url, AIRFLOW_HEALTH):
            state = (
                f"exited with code {proc.returncode}" if proc.poll() is not None else "not healthy in 120 s"
            )
            pytest.fail(f"{' '.join(cmd)}: {state}\n{server.log_tail()}", pytrace=False)
        yield server
    finally:
        stop_process_group(proc, grace=5)


def test_api_server_lists_the_plugin_and_its_views(api_server: ApiServer) -> None:
    headers = {"Authorization": f"Bearer {api_server.token()}"}
    plugins = httpx.get(f"{api_server.url}/api/v2/plugins", headers=headers).json()["plugins"]
    ours = [p for p in plugins if p["name"] == "mlcycle_reports"]
    assert ours, (plugins, api_server.log_tail())
    assert [a["url_prefix"] for a in ours[0]["fastapi_apps"]] == ["/mlcycle"]
    views = {v["destination"]: v["href"] for v in ours[0]["external_views"]}
    assert views == {
        "task_instance": "/mlcycle/runs/{DAG_ID}/{RUN_ID}/",
        "dag_run": "/mlcycle/runs/{DAG_ID}/{RUN_ID}/",
    }
    errors = httpx.get(f"{api_server.url}/api/v2/plugins/importErrors", headers=headers).json()
    assert errors["total_entries"] == 0, errors


def test_api_server_serves_records_only_to_authenticated_users(api_server: ApiServer) -> None:
    store = LocalArtifactStore(api_server.artifacts)
    store.publish_bytes(json.dumps(INGEST).encode(), record_key(DAG_ID, RUN_ID, "ingest.json"))
    record = f"{api_server.url}/mlcycle{run_url(DAG_ID, RUN_ID, 'ingest.json')}"
    index = f"{api_server.url}/mlcycle{run_url(DAG_ID, RUN_ID)}"

    for url in (record, index):
        anonymous = httpx.get(url)
        assert anonymous.status_code == 401, anonymous.text
        forged = httpx.get(url, headers={"Authorization": "Bearer not-a-jwt"})
        assert forged.status_code == 403, forged.text
        assert "39959" not in anonymous.text + forged.text

    token = api_server.token()
    resp = httpx.get(record, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json" and resp.json() == INGEST
    listing = httpx.get(index, headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == 200 and "<a href='ingest.json'>" in listing.text

    # The UI's login page stores the same JWT in the `_token` cookie, which the browser sends
    # with the tab's iframe (same origin) and with a new tab.
    via_cookie = httpx.get(record, cookies={"_token": token})
    assert via_cookie.status_code == 200 and via_cookie.json() == INGEST


def test_api_server_lists_mlcycles_extra_links(api_server: ApiServer) -> None:
    headers = {"Authorization": f"Bearer {api_server.token()}"}
    plugins = httpx.get(f"{api_server.url}/api/v2/plugins", headers=headers).json()["plugins"]
    ours = [p for p in plugins if p["name"] == "mlcycle_links"]
    assert ours, (plugins, api_server.log_tail())
    links = " ".join(ours[0]["operator_extra_links"])
    for name in ("RunRecordLink", "MlflowRunLink", "ModelVersionLink"):
        assert name in links, links
    assert ours[0]["global_operator_extra_links"] == []  # nothing added to other DAGs' tasks
