"""Pure decisions: no I/O, no MLflow. The side effects live in ``registry``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlcycle.config import (
    LOWER_IS_BETTER,
    EvaluationConfig,
    FairnessConfig,
    MonitoringConfig,
    ShadowConfig,
    SliceGateConfig,
)

# Metric differences are float arithmetic: a regression of exactly max_regression must still pass.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class ChampionScore:
    """The current champion as scored on the candidate's holdout (or why it could not be)."""

    version: str
    metrics: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None
    # the champion was trained on this very snapshot with this very config (a re-run of one date)
    same_inputs: bool = False


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: tuple[str, ...]
    champion_version: str | None
    forced: bool = False
    # per-slice outcomes (SliceCheck.to_dict()) and the fairness outcome, for records and the model card
    slices: tuple[dict[str, Any], ...] = ()
    fairness: dict[str, Any] | None = None

    @property
    def verdict(self) -> str:
        return "passed" if self.promote else "rejected"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict
        return out


def _usable(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def improvement(metric: str, candidate: float, champion: float) -> float:
    """How much better the candidate is (positive) or worse (negative), whatever the direction."""
    return champion - candidate if metric in LOWER_IS_BETTER else candidate - champion


def decide_promotion(
    candidate: dict[str, float | None],
    champion: ChampionScore | None,
    policy: EvaluationConfig,
    force: bool = False,
    slices: list[dict[str, Any]] | None = None,
    fairness: dict[str, Any] | None = None,
) -> Decision:
    """Thresholds met, no regression beyond ``policy.max_regression`` against the champion, and the
    slice gate and fairness gate passed where configured.

    ``slices`` are ``evaluation.slice_metrics`` rows (with ``champion_metrics`` where the champion was
    scored); ``fairness`` is ``evaluation.fairness_report``'s result.
    """
    passes: list[str] = []
    failures: list[str] = []
    for metric, bound in sorted(policy.thresholds.items()):
        value = candidate.get(metric)
        lower = metric in LOWER_IS_BETTER
        op = "<=" if lower else ">="
        if not _usable(value):
            failures.append(f"{metric} could not be computed on the holdout (threshold {op} {bound})")
        elif (value <= bound) if lower else (value >= bound):  # type: ignore[operator]
            passes.append(f"{metric} = {value:.4f} meets threshold {op} {bound}")
        else:
            failures.append(f"{metric} = {value:.4f} misses threshold {op} {bound}")

    primary = policy.primary_metric
    cand_primary = candidate.get(primary)
    if not _usable(cand_primary):
        failures.append(f"primary metric {primary} could not be computed on the holdout")
    elif champion is None:
        passes.append("no champion yet: the first model that meets the thresholds becomes champion")
    elif champion.error is not None or not _usable(champion.metrics.get(primary)):
        why = champion.error or f"its {primary} could not be computed"
        msg = f"champion v{champion.version} could not be scored on the same holdout ({why})"
        if policy.on_incomparable_champion == "promote":
            passes.append(msg + "; evaluation.on_incomparable_champion is 'promote'")
        else:
            failures.append(
                msg + "; not promoting (set evaluation.on_incomparable_champion: promote, or force it)"
            )
    else:
        champ_primary = champion.metrics[primary]
        delta = improvement(primary, cand_primary, champ_primary)  # type: ignore[arg-type]
        text = (
            f"{primary}: candidate {cand_primary:.4f} vs champion v{champion.version} "
            f"{champ_primary:.4f} (change {delta:+.4f}, largest regression allowed {policy.max_regression})"
        )
        (passes if delta >= -policy.max_regression - TOLERANCE else failures).append(text)

    if champion is not None and champion.same_inputs:
        failures.append(
            f"champion v{champion.version} was trained on the same snapshot with the same config: "
            "a re-run of the same data is not promoted again (force it to)"
        )
    checks = decide_slices(slices or [], champion, policy)
    if checks:
        failures += [r for c in checks for r in c.failed]
        passes.append(_slice_summary(checks, champion, policy))
        # with nothing to compare, per-slice "nothing to check" lines would only repeat the summary
        idle = champion is None and not (policy.slice_gate and policy.slice_gate.thresholds)
        passes += [r for c in checks if c.status == SKIPPED and not (idle and c.rows >= policy.min_slice_size)
                   for r in c.reasons]
    fair = decide_fairness(fairness, policy.fairness) if policy.fairness is not None else None
    if fair is not None:
        (failures if fair.status == FAILED and fair.gated else passes).append(fair.reason)

    version = champion.version if champion else None
    detail: dict[str, Any] = {
        "slices": tuple(c.to_dict() for c in checks),
        "fairness": None if fair is None else {**(fairness or {}), **fair.to_dict()},
    }
    if failures and force:
        return Decision(
            True,
            ("forced by the run's force_promote param despite:", *failures, *passes),
            version,
            True,
            **detail,
        )
    return Decision(not failures, tuple(failures + passes), version, **detail)


# --- slice and fairness gates ---------------------------------------------------------------------

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class SliceCheck:
    """One slice's gate outcome: ``passed``, ``failed`` or ``skipped`` (never checked), and why
    (``failed`` repeats the reasons that failed it)."""

    column: str
    value: str
    rows: int
    status: str
    reasons: tuple[str, ...]
    failed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bound_met(metric: str, value: float, bound: float) -> bool:
    return value <= bound if metric in LOWER_IS_BETTER else value >= bound


def decide_slices(
    slices: list[dict[str, Any]], champion: ChampionScore | None, policy: EvaluationConfig
) -> tuple[SliceCheck, ...]:
    """Per slice: floors (``slice_gate.thresholds``) always; no regression beyond
    ``slice_gate.max_regression`` against the champion's metrics on the same slice rows."""
    gate = policy.slice_gate
    if gate is None:
        return ()
    out = []
    for row in slices:
        name, rows = f"slice {row['column']}={row['value']}", int(row["rows"])
        if row.get("skipped"):
            why = f"{name}: skipped, {rows} rows < min_slice_size {policy.min_slice_size}; not gated"
            out.append(SliceCheck(row["column"], row["value"], rows, SKIPPED, (why,)))
            continue
        cand = row.get("metrics") or {}
        fails: list[str] = []
        notes: list[str] = []
        for metric, bound in sorted(gate.thresholds.items()):
            value = cand.get(metric)
            op = "<=" if metric in LOWER_IS_BETTER else ">="
            if not _usable(value):
                fails.append(f"{name}: {metric} could not be computed on its {rows} rows (floor {op} {bound})")
            elif _bound_met(metric, value, bound):  # type: ignore[arg-type]
                notes.append(f"{name}: {metric} {value:.4f} meets floor {op} {bound}")
            else:
                fails.append(f"{name}: {metric} {value:.4f} misses floor {op} {bound}")
        compared = 0
        if champion is not None:
            champ = row.get("champion_metrics")
            for key in policy.slice_gate_metrics:
                c, h = cand.get(key), (champ or {}).get(key)
                if champ is None:
                    notes.append(f"{name}: {key} not compared, champion v{champion.version} was not scored")
                elif not (_usable(c) and _usable(h)):
                    notes.append(f"{name}: {key} not compared, undefined on its {rows} rows")
                else:
                    compared += 1
                    delta = improvement(key, c, h)  # type: ignore[arg-type]
                    bad = delta < -gate.max_regression - TOLERANCE
                    text = (
                        f"{name}: {key} {c:.4f} vs champion v{champion.version} {h:.4f} ({delta:+.4f}, "
                        f"{'more than' if bad else 'within'} the {gate.max_regression} allowed)"
                    )
                    (fails if bad else notes).append(text)
        if fails:
            status = FAILED
        elif compared or gate.thresholds:
            status = PASSED
        else:
            status = SKIPPED
            if champion is None:
                notes.append(f"{name}: nothing to check, no champion yet and no slice_gate.thresholds")
        out.append(SliceCheck(row["column"], row["value"], rows, status, tuple(fails + notes), tuple(fails)))
    return tuple(out)


def _slice_summary(
    checks: tuple[SliceCheck, ...], champion: ChampionScore | None, policy: EvaluationConfig
) -> str:
    counts = {s: sum(c.status == s for c in checks) for s in (PASSED, FAILED, SKIPPED)}
    gate = policy.slice_gate or SliceGateConfig()
    what = f"{', '.join(policy.slice_gate_metrics)} within {gate.max_regression} of the champion"
    if gate.thresholds:
        what += " and floors " + ", ".join(f"{k} {v}" for k, v in sorted(gate.thresholds.items()))
    return (
        f"slice gate ({what}): {counts[PASSED]} of {len(checks)} slices passed, "
        f"{counts[FAILED]} failed, {counts[SKIPPED]} skipped"
        + ("; no champion yet, so only slice floors apply" if champion is None else "")
    )


@dataclass(frozen=True)
class FairnessCheck:
    status: str  # passed | failed | skipped (not computable)
    gated: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "gated": self.gated, "reason": self.reason}


def decide_fairness(report: dict[str, Any] | None, cfg: FairnessConfig) -> FairnessCheck:
    """The candidate's fairness figure against ``evaluation.fairness.threshold``; a failure blocks only
    when ``gate`` is true. A figure that cannot be computed fails a gate and is reported otherwise."""
    mode = "gate" if cfg.gate else "reported, not gated (evaluation.fairness.gate is false)"
    label = f"fairness {cfg.metric} across {cfg.sensitive}"
    value = None if report is None else report.get("value")
    if not _usable(value):
        why = (report or {}).get("why") or "no fairness figure was computed"
        status = FAILED if cfg.gate else SKIPPED
        return FairnessCheck(status, cfg.gate, f"{label}: could not be computed ({why}); {mode}")
    groups = (report or {}).get("extremes") or ""
    over = value > cfg.threshold + TOLERANCE  # type: ignore[operator]
    text = (
        f"{label} = {value:.4f} {'exceeds' if over else 'within'} threshold {cfg.threshold}"
        + (f" ({groups})" if groups else "")
        + f"; {mode}"
    )
    return FairnessCheck(FAILED if over else PASSED, cfg.gate, text)


# --- monitoring -----------------------------------------------------------------------------------

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

    ``recent`` holds the statuses of the latest windows up to and including this one, oldest first.
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    One alert per cooldown (none for a backfill that may not act); a retrain only when the policy (or the run's ``allow_retrain`` param)
    allows it, N of the last M windows drifted, no training run is queued or running, the cooldown
    since the last retrain has passed, and, for a backfill, ``retrain.on_backfill`` or the param.
    """
    if status == NO_DRIFT:
        return Action(False, False, ("no drift: nothing to do",))
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
            f"alert: suppressed, last alert {state.last_alert_at.isoformat()} is within the "
            f"{rt.cooldown_hours:g} h cooldown"
        )
    else:
        reasons.append("alert: sent")

    blockers: list[str] = []
    if retrain_param is False:
        blockers.append("the run's allow_retrain param is false")
    elif retrain_param is None and not rt.enabled:
        blockers.append("monitoring.retrain.enabled is false")
    if status not in rt.on:
        blockers.append(f"status {status!r} is not in monitoring.retrain.on {list(rt.on)}")
    if is_backfill and not acts_on_backfill:
        blockers.append("backfill run (set monitoring.retrain.on_backfill or the allow_retrain param)")
    window = state.recent[-rt.of_last_windows :]
    hits = sum(s in rt.on for s in window)
    if hits < rt.min_drifted_windows:
        blockers.append(
            f"{hits} of the last {len(window)} window(s) qualify; "
            f"{rt.min_drifted_windows} of {rt.of_last_windows} needed"
        )
    if state.active_training_runs:
        blockers.append(f"{state.active_training_runs} training run(s) already queued or running")
    if state.last_retrain_at is not None and now - state.last_retrain_at < cooldown:
        blockers.append(
            f"last retrain {state.last_retrain_at.isoformat()} is within the {rt.cooldown_hours:g} h cooldown"
        )
    if blockers:
        reasons.extend(f"retrain: not triggered, {b}" for b in blockers)
    else:
        reasons.append(f"retrain: triggered ({hits} of the last {len(window)} window(s) qualify)")
    if retrain_param is True:
        reasons.append(PARAM_ALLOWS_RETRAIN)
    return Action(alert, not blockers, tuple(reasons))


# --- shadow mode ----------------------------------------------------------------------------------

PENDING, PROMOTE, REJECT = "pending", "promote", "reject"


@dataclass(frozen=True)
class ShadowWindow:
    """One monitoring window scored by the champion and by the challenger in shadow.

    ``champion``/``challenger`` hold the primary metric on the window's labeled rows; None when the
    window had no (or too few) labels or the metric could not be computed.
    """

    window_key: str
    champion_version: str
    champion: float | None = None
    challenger: float | None = None

    @property
    def labeled(self) -> bool:
        return _usable(self.champion) and _usable(self.challenger)


@dataclass(frozen=True)
class ShadowVerdict:
    """``pending`` (keep scoring), ``promote`` or ``reject``, with the running comparison."""

    outcome: str
    reasons: tuple[str, ...]
    windows: int
    labeled: int
    mean_gain: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_shadow(
    windows: Sequence[ShadowWindow],
    policy: ShadowConfig,
    primary_metric: str,
    *,
    challenger: str,
    baseline: str | None,
    champion: str | None,
) -> ShadowVerdict:
    """Judge challenger ``challenger`` against the champion ``baseline`` it entered shadow against.

    The verdict waits for ``policy.windows`` scored windows (the first N count). Windows without
    labels count toward N but not toward the verdict. On the labeled ones the challenger is promoted
    when its mean primary-metric gain is at least ``policy.min_gain`` and it is worse on at most
    half of them; fewer than ``policy.min_labeled_windows`` labeled windows reject it (no evidence).
    A champion that moved while the challenger was in shadow rejects it: it was compared to another.
    """
    counted = list(windows[: policy.windows])
    labeled = [w for w in counted if w.labeled]
    gains = [improvement(primary_metric, w.challenger, w.champion) for w in labeled]  # type: ignore[arg-type]
    mean_gain = sum(gains) / len(gains) if gains else None
    worse = sum(g < -TOLERANCE for g in gains)
    lines = []
    for w in counted:
        if w.labeled:
            gain = improvement(primary_metric, w.challenger, w.champion)  # type: ignore[arg-type]
            lines.append(
                f"window {w.window_key}: {primary_metric} challenger v{challenger} {w.challenger:.4f} vs "
                f"champion v{w.champion_version} {w.champion:.4f} (gain {gain:+.4f})"
            )
        else:
            lines.append(f"window {w.window_key}: no usable labels (counts toward {policy.windows}, not the verdict)")
    running = (
        f"{len(counted)} of {policy.windows} window(s) scored, {len(labeled)} labeled"
        + (f", mean {primary_metric} gain {mean_gain:+.4f}, worse on {worse}" if mean_gain is not None else "")
    )

    def verdict(outcome: str, *head: str) -> ShadowVerdict:
        return ShadowVerdict(outcome, (*head, running, *lines), len(counted), len(labeled), mean_gain)

    if champion != baseline:
        return verdict(
            REJECT,
            f"shadow: champion moved from v{baseline or '-'} to v{champion or '-'} while v{challenger} was in "
            "shadow against it; rejected (retrain to compare against the current champion)",
        )
    if len(counted) < policy.windows:
        return verdict(PENDING, f"shadow: waiting for {policy.windows - len(counted)} more window(s)")
    if len(labeled) < policy.min_labeled_windows:
        return verdict(
            REJECT,
            f"shadow: only {len(labeled)} of {len(counted)} window(s) had labels, "
            f"promotion.shadow.min_labeled_windows is {policy.min_labeled_windows}: not enough evidence to "
            "promote (retrain once labels arrive, or lower min_labeled_windows)",
        )
    gain_ok = mean_gain is not None and mean_gain >= policy.min_gain - TOLERANCE
    majority_ok = 2 * worse <= len(labeled)
    summary = (
        f"mean {primary_metric} gain {mean_gain:+.4f} (needs >= {policy.min_gain:+.4f}), worse on {worse} "
        f"of {len(labeled)} labeled window(s) (at most half allowed)"
    )
    if gain_ok and majority_ok:
        return verdict(PROMOTE, f"shadow: beats champion v{baseline}: {summary}")
    return verdict(REJECT, f"shadow: does not beat champion v{baseline}: {summary}")
