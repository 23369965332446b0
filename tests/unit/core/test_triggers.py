"""What started a run, for every run kind: the words failure messages and `mlcycle status` show."""

from __future__ import annotations

import enum

import pytest

from mlcycle.core.triggers import describe_actor, describe_trigger, run_kind


class RunType(str, enum.Enum):  # noqa: UP042 - as the Task SDK: str() gives "RunType.X", not the value
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    BACKFILL = "backfill"


@pytest.mark.parametrize(
    ("run_type", "run_id", "user", "cli", "words"),
    [
        (RunType.SCHEDULED, "scheduled__2026-01-01", None, None, "schedule"),
        (RunType.BACKFILL, "backfill__2026-01-01", "admin", None, "backfill created by admin"),
        (RunType.BACKFILL, "backfill__2026-01-01", None, None, "backfill"),
        (RunType.MANUAL, "manual__x", "alice", None, "manual run by alice (UI or REST API)"),
        (
            "manual",
            "drift_retrain__scheduled__2026-02-01",
            "admin",
            None,
            "drift retrain requested by monitor run scheduled__2026-02-01",
        ),
        (RunType.MANUAL, "manual__x", "dag_test", "bob", "CLI (mlcycle) by bob"),
        (RunType.MANUAL, "manual__x", "dag_test", None, "dag.test"),
        (RunType.MANUAL, "manual__x", None, None, "manual run"),
        ("asset_triggered", "asset__x", None, None, "asset update"),
    ],
)
def test_describe_trigger(
    run_type: object, run_id: str, user: str | None, cli: str | None, words: str
) -> None:
    assert describe_trigger(run_type, run_id, user, cli) == words


def test_run_kind_reads_enum_values_not_their_repr() -> None:
    assert run_kind(RunType.BACKFILL) == "backfill" and run_kind(None) == "unknown"


def test_cli_runs_act_as_the_cli_user_not_dag_test() -> None:
    assert describe_actor("dag_test", "bob") == "bob (CLI)"
    assert describe_actor("alice", "bob") == "alice"
    assert describe_actor(None) == "airflow (scheduled)"
