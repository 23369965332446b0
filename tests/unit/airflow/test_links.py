"""Extra-link URL builders and the MLflow UI setting (the links' resolution is tested on real runs in
tests/integration/test_extra_links.py)."""

from __future__ import annotations

import pytest

from mlcycle.airflow.links import LINKS_BY_TASK, mlflow_model_version_url, mlflow_run_url, record_url
from mlcycle.config.settings import load_settings


def test_record_urls_encode_run_ids_like_the_ui_and_may_be_relative() -> None:
    run_id = "manual__2026-01-01T00:00:00+00:00"
    assert record_url("churn__train", run_id, "data_checks.json", "http://af:8080/") == (
        "http://af:8080/mlcycle/runs/churn__train/manual__2026-01-01T00%3A00%3A00%2B00%3A00/data_checks.json"
    )
    assert record_url("d", "r/x", "drift_report.html", None) == "/mlcycle/runs/d/r%2Fx/drift_report.html"


def test_mlflow_urls_point_at_the_ui_routes() -> None:
    assert mlflow_run_url("http://mlflow:5000/", "3", "abc") == "http://mlflow:5000/#/experiments/3/runs/abc"
    assert (
        mlflow_model_version_url("http://m", "churn model", "7")
        == "http://m/#/models/churn%20model/versions/7"
    )


@pytest.mark.parametrize(
    ("tracking", "ui", "expected"),
    [
        ("http://mlflow:5000", None, "http://mlflow:5000"),
        ("http://mlflow:5000", "https://mlflow.example.com", "https://mlflow.example.com"),
        ("sqlite:////tmp/mlflow.db", None, None),
    ],
)
def test_mlflow_ui_url_defaults_to_an_http_tracking_uri(
    monkeypatch: pytest.MonkeyPatch, tracking: str, ui: str | None, expected: str | None
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    if ui:
        monkeypatch.setenv("MLCYCLE_MLFLOW_UI_URL", ui)
    else:
        monkeypatch.delenv("MLCYCLE_MLFLOW_UI_URL", raising=False)
    assert load_settings().mlflow_ui_url == expected


def test_each_linked_task_has_links_with_distinct_names_and_xcom_keys() -> None:
    links = [link for group in LINKS_BY_TASK.values() for link in group]
    assert len({link.name for link in links}) == len(links) == 6
    assert len({link.xcom_key for link in links}) == 6


class _RunningTask:
    """The part of the Task SDK's running task instance the links read (ids and its own XCom)."""

    dag_id, run_id, task_id, map_index = "churn__train", "manual__1", "train", -1

    def __init__(self, value: object) -> None:
        self.value = value

    def xcom_pull(self, task_ids: str, map_indexes: int) -> object:
        assert (task_ids, map_indexes) == (self.task_id, self.map_index)
        return self.value


def test_mlflow_links_need_a_ui_url_and_the_tasks_result(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlcycle.airflow.links import MlflowRunLink, ModelVersionLink

    monkeypatch.setenv("MLCYCLE_MLFLOW_UI_URL", "http://ui")
    run = {"experiment_id": "2", "run_id": "abc"}
    assert MlflowRunLink().get_link(None, ti_key=_RunningTask(run)) == "http://ui/#/experiments/2/runs/abc"  # type: ignore[arg-type]
    version = {"model_name": "churn", "version": "4"}
    assert (
        ModelVersionLink().get_link(None, ti_key=_RunningTask(version))
        == "http://ui/#/models/churn/versions/4"
    )  # type: ignore[arg-type]
    assert MlflowRunLink().get_link(None, ti_key=_RunningTask(None)) == ""  # type: ignore[arg-type]
    assert ModelVersionLink().get_link(None, ti_key=_RunningTask(run)) == ""  # type: ignore[arg-type]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////tmp/x.db")
    monkeypatch.delenv("MLCYCLE_MLFLOW_UI_URL")
    assert MlflowRunLink().get_link(None, ti_key=_RunningTask(run)) == ""  # type: ignore[arg-type]
