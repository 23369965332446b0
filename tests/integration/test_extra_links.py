"""Operator extra links after real dag.test() runs, resolved by the API server's own endpoint function.

A training run and one monitor window run; then, for each task, the links come from
``GET /dags/{dag}/dagRuns/{run}/taskInstances/{task}/links`` (the route function, with the metadata DB
and the serialized DAG the run wrote) and each URL must name the real MLflow run, the real registered
version, or a record the records plugin serves.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from mlcycle.airflow.devrun import run_monitoring, run_training
from mlcycle.config.settings import load_settings
from mlcycle.core.names import record_key
from mlcycle.core.summaries import RunSummary, WindowSummary

ROOT = Path(__file__).resolve().parents[2]
MODEL = "links_churn"
MLFLOW_UI = "http://mlflow.example.test:5000"
AIRFLOW_BASE = "http://airflow.example.test:8080"
TRAIN_DATE = "2025-10-01T00:00:00+00:00"
WINDOW_END = datetime(2025, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def runs(demo_dir: Path, write_pipeline: Callable[..., str]) -> Iterator[tuple[RunSummary, WindowSummary]]:
    patch = pytest.MonkeyPatch()
    patch.setenv("MLCYCLE_MLFLOW_UI_URL", MLFLOW_UI)
    patch.setenv("AIRFLOW__API__BASE_URL", AIRFLOW_BASE)
    try:
        name = write_pipeline(
            "links",
            {
                "registry": {"model_name": MODEL},
                "model": {"split": {"strategy": "time", "test_size": 0.2}},
                "notifications": {"events": ["failure"], "slack_conn_id": None, "email": []},
                "monitoring": {"schedule": "@monthly", "min_rows": 300},
            },
        )
        trained = run_training(name, logical_date=TRAIN_DATE)
        assert trained.succeeded, trained.render()
        [window] = run_monitoring(name, [WINDOW_END], execute_retrains=False)
        assert window.state == "success", window.task_states
        yield trained, window
    finally:
        patch.undo()


def api_links(dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
    """What the API server answers for the task instance's links (its route function, its DB)."""
    from airflow.api_fastapi.core_api.routes.public.extra_links import get_extra_links
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session

    with create_session() as session:
        return get_extra_links(dag_id, run_id, task_id, session, DBDagBag()).extra_links


@pytest.fixture(scope="module")
def records_client() -> Iterator[TestClient]:
    """The records plugin's app with Airflow's auth check off (auth is tested in
    tests/unit/airflow/test_reports_plugin.py and tests/integration/airflow/test_reports_plugin_api_server.py)."""
    if str(ROOT / "plugins") not in sys.path:
        sys.path.insert(0, str(ROOT / "plugins"))
    reports: ModuleType = importlib.import_module("mlcycle_reports")
    reports.app.dependency_overrides[reports.authorize_run_read] = lambda: None
    try:
        yield TestClient(reports.app)
    finally:
        reports.app.dependency_overrides.clear()


def _registry() -> MlflowClient:
    uri = load_settings().tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _fetch_record(client: TestClient, url: str | None) -> Any:
    assert url and url.startswith(f"{AIRFLOW_BASE}/mlcycle/runs/"), url
    response = client.get(url.removeprefix(f"{AIRFLOW_BASE}/mlcycle"))
    assert response.status_code == 200, response.text[:500]
    return response


def test_train_links_to_its_mlflow_run(runs: tuple[RunSummary, WindowSummary]) -> None:
    trained, _ = runs
    links = api_links(trained.dag_id, trained.run_id, "train")
    assert set(links) == {"MLflow run"}
    match = re.fullmatch(rf"{re.escape(MLFLOW_UI)}/#/experiments/(\w+)/runs/(\w+)", links["MLflow run"] or "")
    assert match, links
    run = _registry().get_run(match[2])
    assert run.info.experiment_id == match[1]
    assert run.data.tags["airflow.run_id"] == trained.run_id


def test_register_and_promote_links_to_the_registered_version_and_its_card(
    runs: tuple[RunSummary, WindowSummary], records_client: TestClient
) -> None:
    trained, _ = runs
    links = api_links(trained.dag_id, trained.run_id, "register_and_promote")
    version = trained.records["promotion"]["version"]
    assert set(links) == {"MLflow model version", "Model card"}
    assert links["MLflow model version"] == f"{MLFLOW_UI}/#/models/{MODEL}/versions/{version}"
    registered = _registry().get_model_version(MODEL, version)
    assert registered.tags["airflow.run_id"] == trained.run_id
    card = _fetch_record(records_client, links["Model card"])
    assert card.headers["content-type"].startswith("text/html")
    assert f"<h1>Model card: {MODEL} v{version}</h1>" in card.text


def test_check_data_links_to_its_report_which_the_plugin_serves(
    runs: tuple[RunSummary, WindowSummary], records_client: TestClient
) -> None:
    trained, _ = runs
    links = api_links(trained.dag_id, trained.run_id, "check_data")
    assert set(links) == {"Data checks report"}
    report = _fetch_record(records_client, links["Data checks report"])
    assert report.headers["content-type"].startswith("application/json")
    body = json.loads(report.content)
    assert body["summary"]["success"] is True and body["great_expectations"]


def test_detect_drift_links_to_the_evidently_report(
    runs: tuple[RunSummary, WindowSummary], records_client: TestClient
) -> None:
    _, window = runs
    links = api_links(window.dag_id, window.run_id, "detect_drift")
    assert set(links) == {"Evidently report"}
    report = _fetch_record(records_client, links["Evidently report"])
    assert report.headers["content-type"].startswith("text/html")
    stored = Path(
        load_settings().artifact_root, record_key(window.dag_id, window.run_id, "drift_report.html")
    )
    assert report.content == stored.read_bytes()


def test_decide_links_to_the_window_report_that_opens_with_the_verdict(
    runs: tuple[RunSummary, WindowSummary], records_client: TestClient
) -> None:
    _, window = runs
    links = api_links(window.dag_id, window.run_id, "decide")
    assert set(links) == {"Window report"}
    report = _fetch_record(records_client, links["Window report"])
    assert report.headers["content-type"].startswith("text/html")
    status = window.records["decision"]["status"]
    assert '<span class="verdict" style="background:' in report.text
    assert f">{status}</span>" in report.text and "<b>Why:</b>" in report.text
    assert 'href="drift_report.html"' in report.text  # Evidently's, beside it


def test_other_tasks_have_no_links(runs: tuple[RunSummary, WindowSummary]) -> None:
    trained, window = runs
    assert api_links(trained.dag_id, trained.run_id, "ingest") == {}
    assert api_links(window.dag_id, window.run_id, "score") == {}
