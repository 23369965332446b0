"""The manual DAGs of each pipeline: ``<name>__rollback`` and ``<name>__approve``, triggered from the UI
with params, running the same operations as ``mlcycle rollback`` and ``mlcycle approve``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from mlcycle.airflow.callbacks import airflow_actor, failure_notifiers
from mlcycle.airflow.lineage import declare_move
from mlcycle.config.loader import Pipeline
from mlcycle.core.names import Task

VERSION_PARAM: dict[str, Any] = {"type": ["null", "string"], "pattern": "^[0-9]+$"}


def _manual_dag(pipe: Pipeline, action: str, doc: str, params: dict[str, Param]) -> DAG:
    """``<name>__<action>``: one task that runs ``mlcycle.ops.moves.<action>`` with the run's params."""
    cfg = pipe.config
    config_path = str(Path(pipe.path).resolve())
    with DAG(
        dag_id=f"{pipe.name}__{action}",
        description=doc.splitlines()[0][:200],
        schedule=None,
        start_date=datetime(cfg.start_date.year, cfg.start_date.month, cfg.start_date.day, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["mlcycle", "versioning", *cfg.tags],
        default_args={"owner": cfg.owner, "retries": 0, "on_failure_callback": failure_notifiers(pipe)},
        doc_md=doc,
        params=params,
    ) as dag:

        @task(task_id=action)
        def versioning_task() -> dict[str, Any]:
            return _versioning_call(action, config_path)

        versioning_task()
    return dag


def _versioning_call(action: str, pipe_path: str) -> dict[str, Any]:
    """Run ``mlcycle.ops.moves.<action>`` for this DAG run; a refusal fails the run at once, loudly."""
    from airflow.sdk.exceptions import AirflowFailException

    from mlcycle.config.loader import load_pipeline
    from mlcycle.config.settings import load_settings
    from mlcycle.errors import PromotionError
    from mlcycle.ops.moves import approve, rollback

    context = get_current_context()
    params, ti = context["params"], context["ti"]
    common = {
        "reason": str(params.get("reason") or ""),
        "by": airflow_actor(),
        "via": f"DAG {ti.dag_id} run {ti.run_id}",
    }
    pipe, settings = load_pipeline(pipe_path), load_settings()
    try:
        if action == Task.ROLLBACK:
            result = rollback(
                pipe, settings, to=params.get("version"), force=bool(params.get("force")), **common
            )
        else:
            result = approve(pipe, settings, version=params.get("version"), **common)
    except PromotionError as exc:
        raise AirflowFailException(str(exc)) from exc
    declare_move(action, ti, pipe, settings, result, common)
    return result


def build_rollback_dag(pipe: Pipeline) -> DAG:
    """``<name>__rollback``: move ``champion`` back from the UI (manual trigger with params)."""
    doc = f"""Roll back the champion of MLflow model `{pipe.model_name}` ({pipe.name}).

Trigger with params: `version` (empty: the champion before the current one), `reason`, and
`force` to allow a version that never passed the validation gate. The move is compare-and-set
under the model's alias lock and is recorded in the history (`mlcycle history {pipe.name}`),
with this run and its triggering user. Same as `mlcycle rollback {pipe.name}`.
"""
    params = {
        "version": Param(
            None,
            **{**VERSION_PARAM, "description": "Version to roll back to (empty: the previous champion)."},
        ),
        "reason": Param("", type="string", maxLength=1000, description="Why; recorded in the history."),
        "force": Param(False, type="boolean", description="Allow a version that never passed the gate."),
    }
    return _manual_dag(pipe, Task.ROLLBACK, doc, params)


def build_approve_dag(pipe: Pipeline) -> DAG:
    """``<name>__approve``: promote the waiting challenger from the UI (promotion.mode: manual)."""
    doc = f"""Approve the waiting challenger of MLflow model `{pipe.model_name}` ({pipe.name}).

With `promotion.mode: manual` (now: `{pipe.config.promotion.mode}`) a model that passes the gate
becomes `challenger` and waits here. Trigger with `reason` (required) and optionally `version`
(empty: the challenger). Approval runs the same compare-and-set promotion as training: it
refuses if the champion moved since the version was validated. Recorded in the history.
Same as `mlcycle approve {pipe.name} --reason ...`.
"""
    params = {
        "version": Param(
            None, **{**VERSION_PARAM, "description": "Version to approve (empty: the challenger)."}
        ),
        "reason": Param(
            type="string", minLength=1, maxLength=1000, description="Why it is approved (required); recorded."
        ),
    }
    return _manual_dag(pipe, Task.APPROVE, doc, params)
