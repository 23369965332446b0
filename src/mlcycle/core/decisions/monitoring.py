"""The monitor's verdict on a window and the retrain guard's action."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlcycle.config.loader import Pipeline
from mlcycle.config.monitoring import MonitoringConfig
from mlcycle.core.decisions.promotion import TOLERANCE, _usable, improvement

OK, DRIFT, AT_RISK, DEGRADED = "ok", "drift", "at_risk", "degraded"
SEVERITIES = (OK, DRIFT, AT_RISK, DEGRADED)  # mildest first
LEGACY = {"no_drift": OK}  # verdicts recorded before severities


@dataclass(frozen=True)
class Signal:
    """One measurement of the window against its threshold."""

    name: str  # realized_quality, estimated_quality, dataset_drift, prediction_drift, domain_classifier
    fired: bool
    value: float | None
    threshold: float | None
    text: str


@dataclass(frozen=True)
class DriftVerdict:
    """The window's severity (``ok``, ``drift``, ``at_risk``, ``degraded``), why, and every signal."""

    status: str
    reasons: tuple[str, ...]
    signals: tuple[Signal, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quality_signal(
    name: str, label: str, value: Any, ref: Any, policy: MonitoringConfig, metric: str, band: str = ""
) -> Signal | None:
    if not (_usable(value) and _usable(ref)):
        return None
    drop = -improvement(metric, value, ref)
    limit = policy.quality.max_drop
    text = f"{label} {value:.4f}{band} vs validation {ref:.4f} (drop {drop:+.4f}, allowed {limit})"
    return Signal(name, drop > limit + TOLERANCE, drop, limit, text)


def _drift_signals(
    drift: dict[str, Any], domain: dict[str, Any] | None, policy: MonitoringConfig
) -> list[Signal]:
    cols = drift.get("drifted_columns") or []
    n_cols = len(drift.get("columns") or [])
    out = [
        Signal(
            "dataset_drift",
            bool(drift["drifted"]),
            drift["share"],
            drift["share_threshold"],
            f"{len(cols)} of {n_cols} feature columns drifted (share {drift['share']:.2f}, "
            f"dataset drift at >= {drift['share_threshold']:.2f})" + (f": {', '.join(cols)}" if cols else ""),
        )
    ]
    pred = drift.get("prediction")
    if pred is not None and policy.drift.prediction_drift:
        score = "n/a" if pred["score"] is None else f"{pred['score']:.3f}"
        text = f"prediction drift: {pred['method']} {score} (threshold {pred['threshold']})"
        out.append(Signal("prediction_drift", bool(pred["drifted"]), pred["score"], pred["threshold"], text))
    if domain is not None:
        drivers = ", ".join(str(d["feature"]) for d in domain.get("drivers") or [])
        basis = domain.get("threshold_basis")
        text = (
            f"domain classifier ROC AUC {domain['auc']:.3f} (threshold {round(domain['threshold'], 3):g}"
            + (f", {basis}" if basis else "")
            + ")"
            + (f"; driven by {drivers}" if drivers else "")
        )
        out.append(
            Signal("domain_classifier", bool(domain["drifted"]), domain["auc"], domain["threshold"], text)
        )
    return out


def decide_drift(
    drift: dict[str, Any],
    domain: dict[str, Any] | None,
    quality: dict[str, Any] | None,
    policy: MonitoringConfig,
    primary_metric: str,
    estimate: dict[str, Any] | None = None,
) -> DriftVerdict:
    """The window's severity from its signals, the model first: ``degraded`` when realized quality on
    labels dropped past ``quality.max_drop``; else ``at_risk`` when, without enough labels, the estimated
    quality did; else ``drift`` when a drift signal fired; else ``ok``.

    ``drift`` is ``DatasetDrift.to_dict()``, ``domain`` ``DomainClassifierResult.to_dict()`` plus its
    ``threshold`` (None when disabled), ``quality`` ``{"metrics", "reference", "rows"}`` when labels were
    present, ``estimate`` ``{"metrics": {metric: {value, lower, upper}}, "reference", "rows"}`` (or None).
    """
    signals: list[Signal] = []
    notes: list[str] = []
    realized = realized_signal(quality, policy, primary_metric) if quality is not None else None
    if quality is not None:
        if realized is None:
            notes.append(f"quality not compared: {primary_metric} unavailable on the window or the champion")
        else:
            signals.append(realized)
    estimated = None
    if estimate is not None:
        est = (estimate.get("metrics") or {}).get(primary_metric) or {}
        lo, hi = est.get("lower"), est.get("upper")
        band = f" [{lo:.4f}, {hi:.4f}]" if _usable(lo) and _usable(hi) else ""
        estimated = _quality_signal(
            "estimated_quality",
            f"estimated {primary_metric} on {estimate.get('rows')} rows (no labels needed)",
            est.get("value"),
            (estimate.get("reference") or {}).get(primary_metric),
            policy,
            primary_metric,
            band,
        )
        if estimated is not None:
            signals.append(estimated)
    signals.extend(_drift_signals(drift, domain, policy))
    return judge(signals, notes)


def realized_signal(quality: dict[str, Any], policy: MonitoringConfig, primary_metric: str) -> Signal | None:
    """The realized-quality signal of ``{"metrics", "reference", "rows"}`` (None if not comparable)."""
    return _quality_signal(
        "realized_quality",
        f"{primary_metric} on {quality.get('rows')} labelled rows",
        (quality.get("metrics") or {}).get(primary_metric),
        (quality.get("reference") or {}).get(primary_metric),
        policy,
        primary_metric,
    )


def judge(signals: list[Signal], notes: list[str] | tuple[str, ...] = ()) -> DriftVerdict:
    """One severity from the signals, the model first: ``degraded`` when realized quality fired, else
    ``at_risk`` when the estimate did, else ``drift`` when any drift signal did, else ``ok``. Labels
    outrank the estimate: with a realized signal the estimate is recorded, not judged."""
    if any(s.name == "realized_quality" for s in signals):
        signals = [
            Signal(s.name, False, s.value, s.threshold, s.text + "; labels decide")
            if s.name == "estimated_quality" and not s.text.endswith("; labels decide")
            else s
            for s in signals
        ]
    fired = {s.name for s in signals if s.fired}
    if "realized_quality" in fired:
        status, lead = DEGRADED, "realized_quality"
    elif "estimated_quality" in fired:
        status, lead = AT_RISK, "estimated_quality"
    elif fired:
        status, lead = DRIFT, ""
    else:
        status, lead = OK, ""
    ordered = sorted(signals, key=lambda s: (s.name != lead, not s.fired))
    return DriftVerdict(status, tuple([s.text for s in ordered] + list(notes)), tuple(ordered))


def realize(recorded: list[dict[str, Any]], realized: Signal) -> DriftVerdict:
    """A window's verdict again once its labels landed: the recorded signals (estimate, drift) with the
    realized quality added (or replaced), judged by the same rule as when the window was scored."""
    kept = [Signal(**s) for s in recorded if s.get("name") != realized.name]
    return judge([realized, *kept])


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
    counts: bool = False  # the verdict is one monitoring.retrain.on counts

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
    a replay of past windows decides as the schedule would have. An alert when the verdict is in
    ``alert_on``, once per cooldown (none for a backfill that may not act); a retrain only when the
    policy (or the run's ``allow_retrain`` param) allows it, N of the last M windows have a verdict in
    ``retrain.on``, no training run is queued or running, the cooldown since the last retrain has
    passed, and, for a backfill, ``retrain.on_backfill`` or the param.
    """
    rt = policy.retrain
    status = LEGACY.get(status, status)
    if status not in policy.alert_on and status not in rt.on:
        return Action(
            False,
            False,
            (
                f"{status}: recorded, nothing to do (monitoring.alert_on {list(policy.alert_on)}, "
                f"monitoring.retrain.on {list(rt.on)})",
            ),
            note="-",
        )
    cooldown = timedelta(hours=rt.cooldown_hours)
    reasons: list[str] = []

    acts_on_backfill = rt.on_backfill or retrain_param is True
    alert = alerts_enabled and status in policy.alert_on
    if status not in policy.alert_on:
        reasons.append(f"alert: off, status {status!r} is not in monitoring.alert_on {list(policy.alert_on)}")
    elif not alerts_enabled:
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
    hits = sum(LEGACY.get(s, s) in rt.on for s in window)
    if hits < rt.min_drifted_windows:
        blockers.append(
            (
                f"{hits} of the last {len(window)} window(s) qualify; "
                f"{rt.min_drifted_windows} of {rt.of_last_windows} needed",
                f"{hits} qualify, {rt.min_drifted_windows} of {rt.of_last_windows} needed",
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
    return Action(alert, not blockers, tuple(reasons), note=note, counts=status in rt.on)


def alert_text(pipe: Pipeline, decision: dict[str, Any], link: str | None) -> str:
    head = {
        DRIFT: "drift detected",
        AT_RISK: "model quality at risk (estimated without labels)",
        DEGRADED: "model quality degraded",
    }.get(decision["status"], "notice")
    lines = [
        f":warning: mlcycle pipeline *{pipe.name}*: {head} in window "
        f"{decision['window_start']} .. {decision['window_end']} (champion v{decision['model_version']})",
        *(f"- {r}" for r in decision["reasons"][:8]),
        f"Report: {link or decision['report_uri']}",
    ]
    return "\n".join(lines)
