"""Declare each task's OpenLineage lineage for Airflow's OpenLineage provider (docs/lineage.md).

A task body hands its records to ``declared``; the lineage (pure, ``core.lineage``) waits here until
the provider's listener asks ``mlcycle.airflow.ol_extractor.MlcycleExtractor`` for it when the task
ends, in the same process. Nothing here imports the provider or runs at DAG parse time, and nothing
here can fail a task: a lineage that cannot be built is logged and the task goes on.
"""

from __future__ import annotations

import json
import logging
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the DAG factory imports this module at parse time: the rest is imported by tasks
    from mlcycle.config.loader import Pipeline
    from mlcycle.config.settings import Settings
    from mlcycle.core.lineage import TaskLineage
    from mlcycle.core.records import StepRecord
    from mlcycle.steps.context import Env

log = logging.getLogger(__name__)

EXTRACTOR = "mlcycle.airflow.ol_extractor.MlcycleExtractor"
HOME_FILE_TRANSPORT = {"type": "mlcycle.adapters.lineage_events.HomeFileTransport"}

_PENDING: dict[tuple[str, str, str], TaskLineage] = {}  # (dag_id, run_id, task_id) -> lineage


def openlineage_env() -> dict[str, str]:
    """The provider's settings on embedded defaults; any of them set in the environment wins."""
    defaults = {
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "mlcycle",
        "AIRFLOW__OPENLINEAGE__EXTRACTORS": EXTRACTOR,
        # emit from a bounded thread of the task process instead of a fork of it
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(HOME_FILE_TRANSPORT),
    }
    return {key: os.environ.get(key, value) for key, value in defaults.items()}


@cache
def _git_commit() -> str:
    from mlcycle.adapters.tracking import git_commit_info

    return git_commit_info()[0]


def _dump(record: StepRecord | dict[str, Any] | None) -> dict[str, Any] | None:
    return record.to_xcom() if record is not None and hasattr(record, "to_xcom") else record


def _keep(
    dag_id: str, run_id: str, task: str, pipe: Pipeline, settings: Settings, lineage: TaskLineage
) -> None:
    from mlcycle.core.lineage import TaskLineage, config_facet

    config = config_facet(pipe.name, str(Path(pipe.path).resolve()), pipe.config_sha256, _git_commit())
    facets = {**lineage.run_facets, "mlcycle_config": config}
    _PENDING[(dag_id, run_id, task)] = TaskLineage(lineage.inputs, lineage.outputs, facets)


def declared(task: str, env: Env, out: StepRecord, **inputs: Any) -> dict[str, Any]:
    """``out.to_xcom()``, after keeping the task's lineage from ``out`` and its ``inputs`` records."""
    declare(task, env, out, **inputs)
    return out.to_xcom()


def declare(task: str, env: Env, out: StepRecord, **inputs: Any) -> None:
    """Keep the task's lineage, built from ``out`` and its ``inputs`` records, for the extractor."""
    from mlcycle.core.lineage import mlflow_namespace, task_lineage

    try:
        records: dict[str, Any] = {"out": _dump(out), **{k: _dump(v) for k, v in inputs.items()}}
        records.update(by=env.ctx.actor, via=f"DAG {env.ctx.dag_id} run {env.ctx.run_id}")
        lineage = task_lineage(task, records, mlflow_namespace(env.settings.tracking_uri))
        _keep(env.ctx.dag_id, env.ctx.run_id, task, env.pipe, env.settings, lineage)
    except Exception as exc:  # lineage is a by-product: it never fails the task
        log.warning("OpenLineage: no lineage declared for %s (the task goes on): %s", task, exc)


def declare_move(
    action: str, ti: Any, pipe: Pipeline, settings: Settings, result: dict[str, Any], common: dict[str, str]
) -> None:
    """The lineage of a manual rollback or approval: the champion's move to the version."""
    from mlcycle.core.lineage import TaskLineage, alias_move_facet, mlflow_namespace, model_version_dataset
    from mlcycle.core.names import CHAMPION

    try:
        ns = mlflow_namespace(settings.tracking_uri)
        to = str(result.get("to_version") or result["version"])
        moved = alias_move_facet(
            alias=CHAMPION,
            action=action,
            from_version=result.get("from_version") or result.get("replaced"),
            to_version=to,
            why=common["reason"],
            by=common["by"],
            via=common["via"],
        )
        out = model_version_dataset(ns, result["model"], to)
        _keep(
            ti.dag_id,
            ti.run_id,
            ti.task_id,
            pipe,
            settings,
            TaskLineage([], [out], {"mlcycle_aliasMove": moved}),
        )
    except Exception as exc:  # lineage is a by-product: it never fails the task
        log.warning("OpenLineage: no lineage declared for %s (the task goes on): %s", action, exc)


def take_lineage(dag_id: str, run_id: str, task_id: str) -> TaskLineage | None:
    """The lineage a task declared (once: it is removed as it is taken)."""
    return _PENDING.pop((dag_id, run_id, task_id), None)
