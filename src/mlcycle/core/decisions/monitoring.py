"""The monitor's verdict on a window and the retrain guard's action."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlcycle.config.loader import Pipeline
from mlcycle.config.monitoring import MonitoringConfig
from mlcycle.core.decisions.promotion import TOLERANCE, _usable, improvement

NO_DRIFT, DRIFT, DEGRADED = "no_drift", "drift", "degraded"


@dataclass(frozen=True)
class DriftVerdict:
    """What a monitoring window shows: ``no_drift``, ``drift`` or ``degraded``, and why."""

    status: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_drift(
    drift: dict[str, Any],
    domain: dict[str, Any] | None,
    quality: dict[str, Any] | None,
    policy: MonitoringConfig,
    primary_metric: str,
) -> DriftVerdict:
    """Turn the window's drift and quality measurements into a verdict with reasons.

    ``drift`` is ``DatasetDrift.to_dict()``, ``domain`` ``DomainClassifierResult.to_dict()`` (or None
    when disabled), ``quality`` ``{"metrics": {...}, "reference": {metric: value}, "rows": n}`` when
    labels were present (or None).
    """
    drifted: list[str] = []
    fine: list[str] = []
    cols = drift.get("drifted_columns") or []
    n_cols = len(drift.get("columns") or [])
    share_text = (
        f"{len(cols)} of {n_cols} feature columns drifted (share {drift['share']:.2f}, "
        f"dataset drift at >= {drift['share_threshold']:.2f})" + (f": {', '.join(cols)}" if cols else "")
    )
    (drifted if drift["drifted"] else fine).append(share_text)
    pred = drift.get("prediction")
    if pred is not None and policy.drift.prediction_drift:
        score = "n/a" if pred["score"] is None else f"{pred['score']:.3f}"
        text = f"prediction drift: {pred['method']} {score} (threshold {pred['threshold']})"
        (drifted if pred["drifted"] else fine).append(text)
    if domain is not None:
        drivers = ", ".join(str(d["feature"]) for d in domain.get("drivers") or [])
        text = f"domain classifier ROC AUC {domain['auc']:.3f} (threshold {domain['threshold']})" + (
            f"; driven by {drivers}" if drivers else ""
        )
        (drifted if domain["drifted"] else fine).append(text)

    degraded: list[str] = []
    if quality is not None:
        value = (quality.get("metrics") or {}).get(primary_metric)
        ref = (quality.get("reference") or {}).get(primary_metric)
        if _usable(value) and _usable(ref):
            drop = -improvement(primary_metric, value, ref)  # type: ignore[arg-type]
            text = (
                f"{primary_metric} on {quality.get('rows')} labelled rows {value:.4f} vs validation "
                f"{ref:.4f} (drop {drop:+.4f}, allowed {policy.quality.max_drop})"
            )
            (degraded if drop > policy.quality.max_drop + TOLERANCE else fine).append(text)
        else:
            fine.append(f"quality not compared: {primary_metric} unavailable on the window or the champion")
    if degraded:
        return DriftVerdict(DEGRADED, tuple(degraded + drifted + fine))
    if drifted:
        return DriftVerdict(DRIFT, tuple(drifted + fine))
    return DriftVerdict(NO_DRIFT, tuple(fine))


@dataclass(frozen=True)
class GuardState:
    """What the retrain guard needs to know, gathered by the caller.

    ``recent`` holds the statuses of the latest windows up to and including this one, oldest first;
    ``last_retrain_at``/``last_alert_at`` the window ends (data time) of the latest earlier windows
    that retrained or alerted.
    """

    recent: tuple[str, ...]
    last_retrain_at: datetime | None = None
    last_alert_at: datetime | None = None
    active_training_runs: int = 0


@dataclass(frozen=True)
class Action:
    alert: bool
    retrain: bool
    reasons: tuple[str, ...]
    # what happened to the retrain, in a few words for a table: "retrain", "retrain disabled",
    # "cooldown until …", "2 of 3 needed"
    note: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ALERT_SENT = "alert: sent"
PARAM_ALLOWS_RETRAIN = (
    "retrain: allowed by the run's allow_retrain param (overrides monitoring.retrain.enabled and on_backfill)"
)


def decide_action(
    status: str,
    state: GuardState,
    policy: MonitoringConfig,
    now: datetime,
    *,
    alerts_enabled: bool,
    is_backfill: bool = False,
    retrain_param: bool | None = None,
) -> Action:
    """Alert and/or retrain for this window's verdict, guarded against storms.

    ``now`` is the window's end: cooldowns are measured in data time (window ends), so a backfill or
    a replay of past windows decides as the schedule would have. One alert per cooldown (none for a
    backfill that may not act); a retrain only when the policy (or the run's ``allow_retrain`` param)
    allows it, N of the last M windows drifted, no training run is queued or
    running, the cooldown since the last retrain has passed, and, for a backfill, ``retrain.on_backfill`` or
    the param.
    """
    if status == NO_DRIFT:
        return Action(False, False, ("no drift: nothing to do",), "-")
    rt = policy.retrain
    cooldown = timedelta(hours=rt.cooldown_hours)
    reasons: list[str] = []

    acts_on_backfill = rt.on_backfill or retrain_param is True
    alert = alerts_enabled
    if not alerts_enabled:
        reasons.append("alert: off ('drift' is not in notifications.events or no channel is set)")
    elif is_backfill and not acts_on_backfill:
        alert = False
        reasons.append(
            "alert: off, backfill run: past windows are recorded, not paged "
            "(set monitoring.retrain.on_backfill or the allow_retrain param to act on them)"
        )
    elif state.last_alert_at is not None and now - state.last_alert_at < cooldown:
        alert = False
        reasons.append(
            f"alert: suppressed, last alert (window ending {state.last_alert_at.isoformat()}) is within the "
            f"{rt.cooldown_hours:g} h cooldown, until {(state.last_alert_at + cooldown).isoformat()}"
        )
    else:
        reasons.append(ALERT_SENT)

    blockers: list[tuple[str, str]] = []  # (reason, the few words of the table's action column)
    if retrain_param is False:
        blockers.append(("the run's allow_retrain param is false", "retrain off for this run"))
    elif retrain_param is None and not rt.enabled:
        blockers.append(("monitoring.retrain.enabled is false", "retrain disabled"))
    if status not in rt.on:
        blockers.append(
            (f"status {status!r} is not in monitoring.retrain.on {list(rt.on)}", f"no retrain on {status}")
        )
    if is_backfill and not acts_on_backfill:
        blockers.append(
            (
                "backfill run (set monitoring.retrain.on_backfill or the allow_retrain param)",
                "backfill: no retrain",
            )
        )
    window = state.recent[-rt.of_last_windows :]
    hits = sum(s in rt.on for s in window)
    if hits < rt.min_drifted_windows:
        blockers.append(
            (
                f"{hits} of the last {len(window)} window(s) qualify; "
                f"{rt.min_drifted_windows} of {rt.of_last_windows} needed",
                f"{hits} drifted, {rt.min_drifted_windows} of {rt.of_last_windows} needed",
            )
        )
    if state.active_training_runs:
        blockers.append(
            (f"{state.active_training_runs} training run(s) already queued or running", "training run active")
        )
    if state.last_retrain_at is not None and now - state.last_retrain_at < cooldown:
        until = state.last_retrain_at + cooldown
        blockers.append(
            (
                f"last retrain (window ending {state.last_retrain_at.isoformat()}) is within the "
                f"{rt.cooldown_hours:g} h cooldown, until {until.isoformat()}",
                f"cooldown until {until.date().isoformat()}",
            )
        )
    if blockers:
        reasons.extend(f"retrain: not triggered, {b}" for b, _ in blockers)
    else:
        reasons.append(f"retrain: triggered ({hits} of the last {len(window)} window(s) qualify)")
    if retrain_param is True:
        reasons.append(PARAM_ALLOWS_RETRAIN)
    note = blockers[0][1] if blockers else "retrain"
    return Action(alert, not blockers, tuple(reasons), note)


def alert_text(pipe: Pipeline, decision: dict[str, Any], link: str | None) -> str:
    head = {"drift": "drift detected", "degraded": "model quality degraded"}.get(decision["status"], "notice")
    lines = [
        f":warning: mlcycle pipeline *{pipe.name}*: {head} in window "
        f"{decision['window_start']} .. {decision['window_end']} (champion v{decision['model_version']})",
        *(f"- {r}" for r in decision["reasons"][:8]),
        f"Report: {link or decision['report_uri']}",
    ]
    return "\n".join(lines)
