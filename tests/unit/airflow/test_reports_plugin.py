"""The mlcycle_reports plugin: its FastAPI app on a real local store.

Inside a real api-server: tests/integration/airflow/test_reports_plugin_api_server.py; records on S3:
tests/services/airflow/test_reports_plugin_s3.py.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from mlcycle.adapters.store import LocalArtifactStore
from mlcycle.core.names import record_key

ROOT = Path(__file__).resolve().parents[3]
PLUGINS = ROOT / "plugins"
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
