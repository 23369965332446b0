"""Failure messages for every run (issue 16, measured 1): composed from what every run has, so a run
without a logical date (REST ``"logical_date": null``, a retrain the monitor triggers) still gets
one, with what triggered it; a channel that cannot send is logged once, naming it and why."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from mlcycle.airflow.callbacks import compose_failure, plain_text
from mlcycle.airflow.notifiers import DeferredNotifier

RUN_AFTER = datetime(2026, 3, 1, 0, 5, tzinfo=UTC)


def _context(run_id: str, user: str | None, logical_date: datetime | None = None) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="churn__train", task_id="check_data", try_number=1, run_id=run_id, log_url="")
    dag_run = SimpleNamespace(
        dag_id="churn__train",
        run_id=run_id,
        run_type="manual",
        logical_date=logical_date,
        run_after=RUN_AFTER,
        triggering_user_name=user,
    )
    error = ValueError("checks.min_rows: 12 rows, {{ at least }} 500 needed\nfix: widen the window")
    return {"ti": ti, "dag_run": dag_run, "run_id": run_id, "exception": error}


@pytest.mark.parametrize(
    ("run_id", "user", "trigger"),
    [
        ("rest__1", "alice", "manual run by alice (UI or REST API)"),
        (
            "drift_retrain__scheduled__2026-02-01",
            "admin",
            "drift retrain requested by monitor run scheduled__2026-02-01",
        ),
    ],
)
def test_runs_without_a_logical_date_get_a_full_message(run_id: str, user: str, trigger: str) -> None:
    context = _context(run_id, user)  # no logical date, as the task context of such runs has none
    text = compose_failure("churn", "slack", context)["text"]
    assert "DAG: churn__train | task: check_data | try 1" in text
    assert f"Run: {run_id} (manual; triggered by: {trigger})" in text
    assert "Run after: 2026-03-01T00:05:00+00:00 | logical date: none" in text
    # the error's first lines as written: braces are not a template
    assert (
        "Error: ValueError: checks.min_rows: 12 rows, {{ at least }} 500 needed\nfix: widen the window"
        in text
    )
    mail = compose_failure("churn", "email", context)
    assert mail["subject"] == f"[mlcycle] churn__train failed: task check_data ({trigger})"
    assert "{{ at least }}" in mail["html_content"] and "Logical date: none" in mail["html_content"]


def test_a_message_is_composed_even_from_an_empty_context() -> None:
    assert "DAG: ? | task: ? | try ?" in compose_failure("churn", "slack", {})["text"]


def test_alert_email_text_has_no_slack_markup() -> None:
    slack = ":warning: mlcycle pipeline *churn*: drift detected in window 2026-02-01 .. 2026-03-01"
    assert plain_text(slack) == "mlcycle pipeline churn: drift detected in window 2026-02-01 .. 2026-03-01"
    assert plain_text("rows * 2 and a*b") == "rows * 2 and a*b"
    # times keep their colons (an e-mail once read "2026-04-01T0000+00:00")
    window = ":warning: window 2026-04-01T00:00:00+00:00 .. 2026-05-01T12:30:00+00:00 at 10:15:30"
    assert plain_text(window) == "window 2026-04-01T00:00:00+00:00 .. 2026-05-01T12:30:00+00:00 at 10:15:30"


def test_a_channel_that_cannot_send_is_logged_once_and_raises_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    notifier = DeferredNotifier(
        "slack", lambda ctx: compose_failure("churn", "slack", ctx), slack_webhook_conn_id="no_such_conn_16"
    )
    notifier(_context("rest__1", "alice"))  # the connection does not exist: logged, not raised
    said = [r.getMessage() for r in caplog.records if "NOT sent" in r.getMessage()]
    assert len(said) == 1, said
    assert said[0].startswith("mlcycle notification NOT sent via slack (connection no_such_conn_16): ")
    assert "no_such_conn_16" in said[0].split(": ", 1)[1]  # why: the missing connection
