"""Every task's ``multiple_outputs`` is stated in the factory; it must stay what Airflow infers from the annotation."""

from __future__ import annotations

import typing
from collections.abc import Mapping

import pytest

from mlcycle.config import load_pipeline, parse_pipeline
from mlcycle.dag_factory import build_approve_dag, build_monitor_dag, build_rollback_dag, build_training_dag

from .test_integrity import ROOT

DEMO = ROOT / "config" / "pipelines" / "churn.yaml"
PIPES = {
    "auto": load_pipeline(DEMO),
    "shadow": parse_pipeline(DEMO.read_text().replace("mode: auto", "mode: shadow"), str(DEMO)),
}


def _inferred(fn: typing.Callable[..., object]) -> bool:
    """What ``@task`` infers without ``multiple_outputs``: a return annotation that is a Mapping."""
    returned = typing.get_type_hints(fn).get("return", typing.Any)
    origin = getattr(returned, "__origin__", returned)
    return isinstance(origin, type) and issubclass(origin, Mapping)


@pytest.mark.parametrize("build", [build_training_dag, build_monitor_dag, build_rollback_dag, build_approve_dag])
@pytest.mark.parametrize("mode", sorted(PIPES))
def test_stated_multiple_outputs_match_the_return_annotation(build, mode: str) -> None:
    dag = build(PIPES[mode])
    decorated = [t for t in dag.tasks if hasattr(t, "python_callable")]
    assert decorated
    for op in decorated:
        assert op.multiple_outputs is _inferred(op.python_callable), f"{dag.dag_id}.{op.task_id}"
