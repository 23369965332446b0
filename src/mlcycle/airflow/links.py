"""Operator extra links from mlcycle's tasks to MLflow and to the run records (Airflow 3).

Airflow 3 resolves an operator's own links on the worker: when the task ends, the Task SDK calls each
link's ``get_link`` and stores the URL in XCom under the link's ``xcom_key``; the API server reads that
XCom when the UI asks (``GET /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/links``). So a URL
is built from the worker's settings and the task's own return value, and stays what it was at run time.
An empty URL means "no link" (the UI greys the button out).

Imported at DAG parse time: only ``airflow.sdk`` and the standard library at module level.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import attrs
from airflow.sdk import BaseOperatorLink

from mlcycle.core.names import Record, Task

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

log = logging.getLogger(__name__)

RECORDS_PREFIX = "/mlcycle/runs"  # served by plugins/mlcycle_reports.py


def record_url(dag_id: str, run_id: str, name: str, base_url: str | None) -> str:
    """URL of one run record in the records plugin; relative to the UI's origin without a base URL."""
    path = f"{RECORDS_PREFIX}/{quote(dag_id, safe='')}/{quote(run_id, safe='')}/{quote(name)}"
    return f"{base_url.rstrip('/')}{path}" if base_url else path


def mlflow_run_url(ui_url: str, experiment_id: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/#/experiments/{quote(str(experiment_id))}/runs/{quote(run_id)}"


def mlflow_model_version_url(ui_url: str, model_name: str, version: str) -> str:
    return f"{ui_url.rstrip('/')}/#/models/{quote(model_name, safe='')}/versions/{quote(str(version))}"


def airflow_base_url() -> str | None:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback=None) or None


def _return_value(ti_key: Any) -> dict[str, Any] | None:
    """The task's own XCom return value, as the running task instance sees it."""
    value = ti_key.xcom_pull(task_ids=ti_key.task_id, map_indexes=ti_key.map_index)
    return value if isinstance(value, dict) else None


@attrs.define
class RunRecordLink(BaseOperatorLink):
    """A record of this DAG run in the artifact store, through the records plugin."""

    record: str = ""
    label: str = ""

    @property
    def name(self) -> str:
        return self.label

    @property
    def xcom_key(self) -> str:
        return f"_link_mlcycle_{self.record}"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return record_url(ti_key.dag_id, ti_key.run_id, self.record, airflow_base_url())


@attrs.define
class _MlflowLink(BaseOperatorLink):
    """A page of MLflow's UI named by the task's return value; no link without a UI URL or a result."""

    def url(self, ui: str, result: dict[str, Any]) -> str:
        raise NotImplementedError

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from mlcycle.config.settings import load_settings

        ui = load_settings().mlflow_ui_url
        result = _return_value(ti_key)
        if not ui or not result:
            return ""
        try:
            return self.url(ui, result)
        except KeyError:
            return ""


@attrs.define
class MlflowRunLink(_MlflowLink):
    """The MLflow run the task trained (its return value carries ``experiment_id`` and ``run_id``)."""

    name = "MLflow run"

    def url(self, ui: str, result: dict[str, Any]) -> str:
        return mlflow_run_url(ui, result["experiment_id"], result["run_id"])


@attrs.define
class ModelVersionLink(_MlflowLink):
    """The registered model version the task created (return value ``model_name`` and ``version``)."""

    name = "MLflow model version"

    def url(self, ui: str, result: dict[str, Any]) -> str:
        return mlflow_model_version_url(ui, result["model_name"], result["version"])


DATA_CHECKS_LINK = RunRecordLink(record=Record.DATA_CHECKS, label="Data checks report")
MODEL_CARD_LINK = RunRecordLink(record=Record.MODEL_CARD_HTML, label="Model card")
WINDOW_REPORT_LINK = RunRecordLink(record=Record.WINDOW_REPORT_HTML, label="Window report")
EVIDENTLY_REPORT_LINK = RunRecordLink(record=Record.DRIFT_REPORT_HTML, label="Evidently report")
LINKS_BY_TASK: dict[str, list[BaseOperatorLink]] = {
    Task.CHECK_DATA: [DATA_CHECKS_LINK],
    Task.TRAIN: [MlflowRunLink()],
    Task.REGISTER_AND_PROMOTE: [ModelVersionLink(), MODEL_CARD_LINK],
    Task.DETECT_DRIFT: [EVIDENTLY_REPORT_LINK],
    Task.DECIDE: [WINDOW_REPORT_LINK],
}


def attach_links(dag: Any) -> None:
    """Give each mlcycle task of ``dag`` its extra links (by task id, see ``LINKS_BY_TASK``)."""
    for task_id, links in LINKS_BY_TASK.items():
        if task_id in dag.task_dict:
            dag.task_dict[task_id].operator_extra_links = list(links)
