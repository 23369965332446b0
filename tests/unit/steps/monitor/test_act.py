"""The guard's effect on a local artifact store: ``alert: sent`` only for what went out, an alert no
channel delivered starts no cooldown, and windows decided out of arrival order read the ledger by
window end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlcycle.adapters.ledger import MonitorLedger
from mlcycle.adapters.store import LocalArtifactStore
from mlcycle.config.settings import load_settings
from mlcycle.core.records import WindowVerdict
from mlcycle.steps.context import Env, RunContext
from mlcycle.steps.monitor.decide import act


def _env(tmp_path: Path, pipe: Any) -> Env:
    notes = pipe.config.notifications.model_copy(
        update={
            "events": ["failure", "drift"],
            "slack_conn_id": "slack_default",
            "email": ["oncall@example.com"],
        }
    )
    cfg = pipe.config.model_copy(update={"notifications": notes})
    pipe = pipe.model_copy(update={"config": cfg})
    return Env(pipe, load_settings(), LocalArtifactStore(tmp_path), RunContext("p__monitor", "r", "x"))


def _verdict(end_month: int, status: str = "degraded") -> WindowVerdict:
    start, end = (datetime(2026, m, 1, tzinfo=UTC).isoformat() for m in (end_month - 1, end_month))
    return WindowVerdict(
        status=status,
        reasons=["2 of 10 feature columns drifted"],
        window_key=f"w{end_month}",
        window_start=start,
        window_end=end,
        model_version="1",
        report_uri="file:///report.html",
        dag_id="p__monitor",
        run_id=f"r{end_month}",
        decided_at=end,
    )


def _act(env: Env, verdict: WindowVerdict, failures: dict[str, str]) -> list[str]:
    MonitorLedger(env.store, env.pipe.name).record_verdict(verdict.window_key, verdict.to_xcom())
    sent: list[str] = []

    def send(text: str) -> dict[str, str]:
        sent.append(text)
        return failures

    taken = act(env, verdict, active_training_runs=0, is_backfill=False, retrain_param=False, send_alert=send)
    assert len(sent) == int(taken.alert)
    return taken.reasons


def test_alert_that_reached_no_channel_is_not_sent_and_starts_no_cooldown(
    tmp_path: Path, demo_pipeline
) -> None:
    env = _env(tmp_path, demo_pipeline)
    both = {"slack": "AirflowException: Status Code: 500", "email": "SMTPRecipientsRefused: 550"}
    reasons = _act(env, _verdict(3), both)
    assert reasons[0] == (
        "alert: NOT sent (email failed: SMTPRecipientsRefused: 550; slack failed: AirflowException: Status Code: 500)"
    )
    # the next window tries again: no cooldown from an alert nobody received
    reasons = _act(env, _verdict(4), {"slack": "AirflowException: Status Code: 500"})
    assert reasons[0] == "alert: sent via email (slack failed: AirflowException: Status Code: 500)"
    reasons = _act(env, _verdict(5), {})
    assert reasons[0].startswith("alert: suppressed, last alert (window ending 2026-04-01T00:00:00+00:00)")


def test_a_window_decided_after_a_later_one_reads_only_the_windows_before_it(
    tmp_path: Path, demo_pipeline
) -> None:
    env = _env(tmp_path, demo_pipeline)
    assert _act(env, _verdict(5), {})[0] == "alert: sent via slack, email"
    # April's window arrives late: May's alert is after it in data time and does not hold it
    assert _act(env, _verdict(4), {})[0] == "alert: sent via slack, email"
