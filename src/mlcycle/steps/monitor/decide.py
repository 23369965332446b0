"""The window's verdict, recorded; the retrain guard's action, with its ledger in the artifact store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from mlcycle.adapters.ledger import MonitorLedger
from mlcycle.config.schema import NotificationsConfig
from mlcycle.core.decisions.monitoring import ALERT_SENT, alert_text
from mlcycle.core.names import Record, Tag
from mlcycle.core.records import ActionTaken, DriftResult, Scored, WindowVerdict
from mlcycle.steps.context import Env

log = logging.getLogger(__name__)


REPORT_WINDOWS = 12  # recent windows in the report's quality plot


def decide(env: Env, drift: DriftResult, scored: Scored) -> WindowVerdict:
    """The window's verdict from its signals; recorded in the guard's ledger, the run and its MLflow run,
    with the window's report."""
    from mlcycle.core.decisions.monitoring import decide_drift

    pipe = env.pipe
    primary = pipe.config.evaluation.primary_metric
    quality = scored.quality
    usable_quality = quality if quality and "metrics" in quality else None
    estimate = drift.estimated_quality if (drift.estimated_quality or {}).get("metrics") else None
    verdict = decide_drift(
        drift.dataset, drift.domain_classifier, usable_quality, pipe.config.monitoring, primary, estimate
    )
    est = ((estimate or {}).get("metrics") or {}).get(primary) or {}
    realized = ((usable_quality or {}).get("metrics") or {}).get(primary)
    decided_at = datetime.now(UTC).isoformat()
    record = WindowVerdict(
        status=verdict.status,
        reasons=list(verdict.reasons),
        signals=[asdict(s) for s in verdict.signals],
        primary_metric=primary,
        realized=realized,
        estimated=est.get("value"),
        estimated_band=[est.get("lower"), est.get("upper")] if est else None,
        window_key=drift.window_key,
        window_start=drift.window_start,
        window_end=drift.window_end,
        model_version=drift.model_version,
        report_uri=env.store.uri(env.record_key(Record.WINDOW_REPORT_HTML)),
        evidently_report_uri=drift.report["html_uri"],
        dag_id=env.ctx.dag_id,
        run_id=env.ctx.run_id,
        decided_at=decided_at,
        served_by=scored.served_by,
        predictions_key=scored.predictions_key,
        labelled_rows=int((quality or {}).get("rows") or 0),
        realized_quality={"source": "window", **usable_quality} if usable_quality else None,
        history=[
            {
                "status": verdict.status,
                "by": "monitor",
                "at": decided_at,
                "run_id": env.ctx.run_id,
                "realized": realized,
                "estimated": est.get("value"),
            }
        ],
        mlflow_run_id=drift.mlflow_run_id,
    )
    ledger = MonitorLedger(env.store, pipe.name)
    ledger.record_verdict(drift.window_key, record.to_xcom())
    _publish_report(env, record, drift, ledger.recent_verdicts(drift.window_end, REPORT_WINDOWS))
    with env.tracking.run(drift.mlflow_run_id) as run:
        run.set_tags(
            {
                Tag.VERDICT: verdict.status,
                Tag.VERDICT_SIGNALS: ",".join(s.name for s in verdict.signals if s.fired) or "none",
            }
        )
    record = record.model_copy(update={"decision_uri": env.publish_record(record)})
    log.info("verdict %s:\n  %s", verdict.status, "\n  ".join(verdict.reasons))
    return record


def _publish_report(env: Env, record: WindowVerdict, drift: DriftResult, recent: list[dict[str, Any]]) -> str:
    from mlcycle.core.window_report import render_window_report

    history = [
        {
            "label": str(r.get("window_start", ""))[:10],
            "estimated": r.get("estimated"),
            "realized": r.get("realized"),
            "band": r.get("estimated_band"),
        }
        for r in recent
    ]
    html = render_window_report(
        env.pipe.name, record.to_xcom(), drift.to_xcom(), history, Record.DRIFT_REPORT_HTML
    )  # Evidently's report sits beside it in the run's records: a relative link
    return env.store.publish_bytes(html.encode(), env.record_key(Record.WINDOW_REPORT_HTML))


def act(
    env: Env,
    decision: WindowVerdict,
    *,
    active_training_runs: int,
    is_backfill: bool,
    retrain_param: bool | None,
    send_alert: Callable[[str], dict[str, str]],
    report_link: str | None = None,
    now: datetime | None = None,
) -> ActionTaken:
    """Apply the guard to this window's verdict: alert (once per cooldown), request a retrain or not.

    ``send_alert(text)`` delivers on every configured channel and returns ``{channel: error}`` for
    the channels that failed (a failing channel never stops the others).
    """
    from mlcycle.core.decisions.monitoring import GuardState, decide_action

    pipe = env.pipe
    mon = pipe.config.monitoring
    notes = pipe.config.notifications
    now = now or datetime.now(UTC)
    # the guard measures in data time: the cooldown runs between window ends, not wall-clock runs
    data_now = datetime.fromisoformat(decision.window_end)
    ledger = MonitorLedger(env.store, pipe.name)
    run = {"dag_id": env.ctx.dag_id, "run_id": env.ctx.run_id, "window_key": decision.window_key}
    state = GuardState(
        recent=ledger.recent_statuses(decision.window_end, mon.retrain.of_last_windows),
        last_retrain_at=ledger.last_event("retrain", decision.window_end),
        last_alert_at=ledger.last_event("alert", decision.window_end),
        active_training_runs=active_training_runs,
    )
    action = decide_action(
        decision.status,
        state,
        mon,
        data_now,
        alerts_enabled="drift" in notes.events and bool(notes.slack_conn_id or notes.email),
        is_backfill=is_backfill,
        retrain_param=retrain_param,
    )
    reasons = list(action.reasons)
    record: dict[str, Any] = {
        **action.to_dict(),
        "status": decision.status,
        "window_key": decision.window_key,
        "recent_statuses": list(state.recent),
        "is_backfill": is_backfill,
        "allow_retrain_param": retrain_param,
    }
    if action.alert:
        failures = send_alert(alert_text(pipe, decision.to_xcom(), report_link))
        record["alert_failures"] = failures
        reasons = [_alert_outcome(failures, notes) if r == ALERT_SENT else r for r in reasons]
        if _sent_any(
            failures, notes
        ):  # an alert nobody received starts no cooldown: the next window tries again
            ledger.record_event("alert", {**run, "status": decision.status}, decision.window_end, now)
    record["reasons"] = reasons
    if action.retrain:
        record["retrain_dag_id"] = pipe.train_dag_id
        record["retrain_logical_date"] = decision.window_end
        ledger.record_event(
            "retrain",
            {
                **run,
                "train_dag_id": pipe.train_dag_id,
                "reasons": decision.reasons,
                "allow_retrain_param": retrain_param,
            },
            decision.window_end,
            now,
        )
    taken = ActionTaken(**record)
    taken = taken.model_copy(update={"action_uri": env.publish_record(taken)})
    log.info("action:\n  %s", "\n  ".join(reasons))
    return taken


def _channels(notes: NotificationsConfig) -> list[str]:
    return [c for c, on in (("slack", notes.slack_conn_id), ("email", notes.email)) if on]


def _sent_any(failures: dict[str, str], notes: NotificationsConfig) -> bool:
    return any(c not in failures for c in _channels(notes))


def _alert_outcome(failures: dict[str, str], notes: NotificationsConfig) -> str:
    """``alert: sent`` only for what went out; a channel that failed is named with its reason."""
    sent = [c for c in _channels(notes) if c not in failures]
    failed = "; ".join(f"{c} failed: {why}" for c, why in sorted(failures.items()))
    if not sent:
        return f"alert: NOT sent ({failed})"
    return f"alert: sent via {', '.join(sent)}" + (f" ({failed})" if failed else "")
