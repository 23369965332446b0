"""The mlcycle_reports plugin: its FastAPI app on a real local store, then inside a real api-server."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from mlcycle.adapters.store import LocalArtifactStore
from mlcycle.core.names import record_key
from tests.support.fixtures import (
    AIRFLOW_HEALTH,
    LOOPBACK,
    S3Server,
    _healthy,
    _wait_until,
    free_port,
    spawn,
    stop_process_group,
)

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")
DAG_ID = "churn__train"
RUN_ID = "manual__2026-01-01T00:00:00+00:00"
INGEST = {"rows": 39959, "sha256": "3d4d2da9f9d3"}
REPORT = b"<!doctype html><html><body><h1>Data drift</h1></body></html>"
SECRET = "TOP SECRET, outside the run folder"


def run_url(dag_id: str, run_id: str, name: str = "") -> str:
    """The path the UI builds: ids URL-encoded like JavaScript's encodeURIComponent."""
    return f"/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}/{name}"


@pytest.fixture(scope="module")
def reports() -> ModuleType:
    if str(PLUGINS) not in sys.path:
        sys.path.insert(0, str(PLUGINS))
    return importlib.import_module("mlcycle_reports")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalArtifactStore:
    root = tmp_path / "artifacts"
    monkeypatch.setenv("MLCYCLE_ARTIFACT_ROOT", str(root))
    store = LocalArtifactStore(root)
    store.publish_bytes(json.dumps(INGEST).encode(), record_key(DAG_ID, RUN_ID, "ingest.json"))
    store.publish_bytes(REPORT, record_key(DAG_ID, RUN_ID, "drift_report.html"))
    store.publish_bytes(SECRET.encode(), "secret.txt")
    store.publish_bytes(SECRET.encode(), f"runs/{DAG_ID}/secret.txt")
    (tmp_path / "secret.txt").write_text(SECRET)
    return store


@pytest.fixture
def client(reports: ModuleType, store: LocalArtifactStore) -> Iterator[TestClient]:
    """The app with Airflow's auth check switched off (real auth: the api-server test below)."""
    reports.app.dependency_overrides[reports.authorize_run_read] = lambda: None
    try:
        yield TestClient(reports.app)
    finally:
        reports.app.dependency_overrides.clear()


def test_index_lists_each_record_with_a_link_and_its_size(client: TestClient) -> None:
    resp = client.get(run_url(DAG_ID, RUN_ID))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert "<a href='ingest.json'>ingest.json</a>" in page
    assert "<a href='drift_report.html'>drift_report.html</a>" in page
    assert f"{len(json.dumps(INGEST))} B" in page and f"{len(REPORT)} B" in page
    assert "secret.txt" not in page
    assert "script-src" not in resp.headers["content-security-policy"]  # our page runs no script


def test_json_record_is_served_as_application_json(client: TestClient) -> None:
    resp = client.get(run_url(DAG_ID, RUN_ID, "ingest.json"))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == INGEST


def test_html_report_is_served_inline_in_a_sandbox(client: TestClient) -> None:
    resp = client.get(run_url(DAG_ID, RUN_ID, "drift_report.html"))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["content-disposition"].startswith("inline")
    assert resp.headers["content-security-policy"].startswith("sandbox allow-scripts")
    assert resp.content == REPORT


def test_a_stored_run_key_in_the_url_finds_the_same_records(client: TestClient) -> None:
    resp = client.get(run_url(DAG_ID, "manual__2026-01-01T00_00_00_00_00", "ingest.json"))
    assert resp.status_code == 200 and resp.json() == INGEST


@pytest.mark.parametrize(
    "path",
    [
        run_url(DAG_ID, RUN_ID) + "%2e%2e",
        run_url(DAG_ID, RUN_ID) + "..%2Fsecret.txt",
        run_url(DAG_ID, RUN_ID) + "..%2F..%2F..%2Fsecret.txt",
        run_url(DAG_ID, RUN_ID) + "%2Fetc%2Fpasswd",
        run_url(DAG_ID, RUN_ID) + "..%5C..%5Csecret.txt",
        run_url(DAG_ID, RUN_ID) + ".ingest.json",
        run_url(DAG_ID, RUN_ID) + "a..secret.txt",
        f"/runs/{DAG_ID}/%2e%2e/secret.txt",
        "/runs/%2e%2e/%2e%2e/secret.txt",
        "/runs/%2e%2e/%2e%2e/",
        f"/runs/{DAG_ID}/..%2F..%2F/secret.txt",
    ],
)
def test_paths_outside_the_run_folder_are_refused(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code in (400, 404), (path, resp.status_code, resp.text)
    assert SECRET not in resp.text


def test_a_run_without_records_is_a_404_that_says_why(client: TestClient, store: LocalArtifactStore) -> None:
    resp = client.get(run_url(DAG_ID, "manual__2030-01-01T00:00:00+00:00"))
    assert resp.status_code == 404
    assert "no records for run manual__2030-01-01T00:00:00+00:00 of DAG churn__train" in resp.text
    assert "the run has not produced any yet, or artifacts live elsewhere" in resp.text
    assert f"MLCYCLE_ARTIFACT_ROOT is {store.root}" in resp.text


def test_the_404_names_the_default_root_when_none_is_set(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLCYCLE_ARTIFACT_ROOT")
    monkeypatch.setenv("MLCYCLE_HOME", str(tmp_path / "home"))
    resp = client.get(run_url(DAG_ID, RUN_ID))
    assert resp.status_code == 404
    assert f"MLCYCLE_ARTIFACT_ROOT is unset, so the default {tmp_path / 'home' / 'artifacts'}" in resp.text


def test_the_404_masks_credentials_in_the_root(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCYCLE_ARTIFACT_ROOT", "https://ops:hunter2@objects.example/artifacts")
    resp = client.get(run_url(DAG_ID, RUN_ID))
    assert resp.status_code == 404
    assert "hunter2" not in resp.text and "ops:" not in resp.text
    assert "***@objects.example/artifacts" in resp.text


def test_a_missing_record_is_a_404(client: TestClient) -> None:
    resp = client.get(run_url(DAG_ID, RUN_ID, "promotion.json"))
    assert resp.status_code == 404
    assert "no record promotion.json for run" in resp.text


def test_requests_without_airflow_credentials_are_refused(
    reports: ModuleType, store: LocalArtifactStore
) -> None:
    assert not reports.app.dependency_overrides
    client = TestClient(reports.app)
    for path in (run_url(DAG_ID, RUN_ID), run_url(DAG_ID, RUN_ID, "ingest.json")):
        resp = client.get(path)
        assert resp.status_code == 401, resp.text
        assert "39959" not in resp.text


@pytest.mark.services
def test_records_on_s3_are_listed_with_sizes_and_served(
    reports: ModuleType, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_server.create_bucket()
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLCYCLE_ARTIFACT_ROOT", f"s3://{bucket}/mlcycle")
    s3 = s3_server.client()
    s3.put_object(
        Bucket=bucket, Key=f"mlcycle/{record_key(DAG_ID, RUN_ID, 'drift_report.html')}", Body=REPORT
    )
    reports.app.dependency_overrides[reports.authorize_run_read] = lambda: None
    try:
        client = TestClient(reports.app)
        index = client.get(run_url(DAG_ID, RUN_ID))
        assert index.status_code == 200, index.text
        assert f"{len(REPORT)} B" in index.text and f"s3://{bucket}/mlcycle/runs/" in index.text
        report = client.get(run_url(DAG_ID, RUN_ID, "drift_report.html"))
        assert report.status_code == 200 and report.content == REPORT
        assert report.headers["content-type"] == "text/html; charset=utf-8"
        assert client.get(run_url(DAG_ID, "manual__2030-01-01T00:00:00+00:00")).status_code == 404
    finally:
        reports.app.dependency_overrides.clear()


def test_the_plugin_declares_the_app_and_two_views_airflow_accepts(reports: ModuleType) -> None:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    plugin = reports.MlcycleReportsPlugin
    assert plugin.fastapi_apps == [
        {"app": reports.app, "url_prefix": "/mlcycle", "name": "mlcycle run records"}
    ]
    views = [ExternalViewResponse.model_validate(v) for v in plugin.external_views]
    assert {v.destination for v in views} == {"task_instance", "dag_run"}
    assert {v.href for v in views} == {"/mlcycle/runs/{DAG_ID}/{RUN_ID}/"}
    assert all(v.url_route for v in views) and len({v.url_route for v in views}) == 2


def test_importing_the_plugin_is_cheap_and_needs_no_artifact_root() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLCYCLE_ARTIFACT_ROOT"}
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import airflow; import mlcycle_reports; "
        "heavy = ('pandas', 'mlflow', 'great_expectations', 'evidently', 'sklearn', 'boto3', 'pyarrow', "
        "'airflow.api_fastapi.core_api.security'); print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(PLUGINS)], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
def test_api_server_lists_mlcycles_extra_links(api_server: ApiServer) -> None:
    headers = {"Authorization": f"Bearer {api_server.token()}"}
    plugins = httpx.get(f"{api_server.url}/api/v2/plugins", headers=headers).json()["plugins"]
    ours = [p for p in plugins if p["name"] == "mlcycle_links"]
    assert ours, (plugins, api_server.log_tail())
    links = " ".join(ours[0]["operator_extra_links"])
    for name in ("RunRecordLink", "MlflowRunLink", "ModelVersionLink"):
        assert name in links, links
    assert ours[0]["global_operator_extra_links"] == []  # nothing added to other DAGs' tasks
