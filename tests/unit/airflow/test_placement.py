"""The YAML's ``execution`` section puts heavy and light tasks on their own queues and pools."""

from __future__ import annotations

import textwrap

import pytest

from mlcycle.airflow.factory import build_monitor_dag, build_training_dag
from mlcycle.config.loader import load_pipeline, parse_pipeline
from mlcycle.core.names import HEAVY_TASKS
from mlcycle.errors import ConfigError

from .test_integrity import ROOT

DEMO = ROOT / "config" / "pipelines" / "churn.yaml"
EXECUTION = """
execution:
  heavy: {queue: training, pool: ml_training, pool_slots: 2}
  light: {queue: light}
"""


def _pipe(extra: str = ""):
    return parse_pipeline(DEMO.read_text() + textwrap.dedent(extra), "config/pipelines/churn.yaml")


def test_heavy_and_light_tasks_go_to_their_queues_and_pools() -> None:
    pipe = _pipe(EXECUTION)
    for dag in (build_training_dag(pipe), build_monitor_dag(pipe)):
        heavy = [t for t in dag.tasks if t.task_id in HEAVY_TASKS]
        light = [t for t in dag.tasks if t.task_id not in HEAVY_TASKS]
        assert heavy and light, dag.dag_id
        for task in heavy:
            assert (task.queue, task.pool, task.pool_slots) == ("training", "ml_training", 2), task.task_id
        for task in light:
            assert (task.queue, task.pool, task.pool_slots) == ("light", "default_pool", 1), task.task_id
    assert {"ingest", "check_data", "train", "evaluate"} <= {t.task_id for t in heavy} | HEAVY_TASKS


def test_without_the_section_tasks_keep_airflows_defaults() -> None:
    dag = build_training_dag(load_pipeline(DEMO))
    assert {(t.queue, t.pool, t.pool_slots) for t in dag.tasks} == {("default", "default_pool", 1)}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "execution: {heavy: {queue: 'gpu queue'}}",
            "execution.heavy.queue: 'gpu queue' is not a queue/pool name",
        ),
        ("execution: {light: {pool_slots: 0}}", "execution.light.pool_slots: must be >= 1"),
        (
            "execution: {heavy: {queues: training}}",
            "execution.heavy.queues: unknown key; did you mean 'queue'?",
        ),
    ],
)
def test_bad_execution_keys_name_the_key(yaml_text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _pipe("\n" + yaml_text + "\n")
    assert message in str(info.value)
