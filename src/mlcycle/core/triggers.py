"""What started an Airflow run, in words a person reads: schedule, backfill, UI/REST user, CLI, drift retrain.

Every run has a run id, a run type and a ``run_after``; a logical date and a triggering user only some.
"""

from __future__ import annotations

from mlcycle.core.names import DAG_TEST_USER, RETRAIN_RUN_PREFIX


def run_kind(run_type: object) -> str:
    """``"manual"``, ``"scheduled"``, ``"backfill"``, … from a run type (a str-Enum or its value)."""
    value = getattr(run_type, "value", run_type)
    return str(value or "unknown")


def describe_trigger(run_type: object, run_id: str, user: str | None, cli_user: str | None = None) -> str:
    """One phrase naming what triggered the run.

    ``user`` is the run's triggering user (None for the scheduler); ``cli_user`` the OS user of an
    ``mlcycle run``/``monitor`` in this process (those runs are ``dag.test`` runs).
    """
    kind = run_kind(run_type)
    if run_id.startswith(RETRAIN_RUN_PREFIX):
        return f"drift retrain requested by monitor run {run_id.removeprefix(RETRAIN_RUN_PREFIX)}"
    if kind == "scheduled":
        return "schedule"
    if kind == "backfill":
        return f"backfill created by {user}" if user else "backfill"
    if kind == "asset_triggered":
        return "asset update"
    if user == DAG_TEST_USER:
        return f"CLI (mlcycle) by {cli_user}" if cli_user else "dag.test"
    if user:
        return f"manual run by {user} (UI or REST API)"
    return f"{kind} run"


def describe_actor(user: str | None, cli_user: str | None = None) -> str:
    """Who acted for an alias-move record: the triggering user, the CLI user, else the scheduler."""
    if user == DAG_TEST_USER and cli_user:
        return f"{cli_user} (CLI)"
    return str(user) if user else "airflow (scheduled)"
