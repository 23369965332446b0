"""The validation gate: does a candidate pass, against thresholds, the champion, slices and fairness?"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mlcycle.config.catalogs import LOWER_IS_BETTER
from mlcycle.config.schema import EvaluationConfig, FairnessConfig, SliceGateConfig
from mlcycle.core.names import Tag, metric_tag

# Metric differences are float arithmetic: a regression of exactly max_regression must still pass.
TOLERANCE = 1e-9

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


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
        passes += [
            r
            for c in checks
            if c.status == SKIPPED and not (idle and c.rows >= policy.min_slice_size)
            for r in c.reasons
        ]
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
                fails.append(
                    f"{name}: {metric} could not be computed on its {rows} rows (floor {op} {bound})"
                )
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


def decision_tags(decision: dict[str, Any], metrics: dict[str, Any], primary: str) -> dict[str, str]:
    tags = {
        Tag.VALIDATION: decision["verdict"],
        Tag.VALIDATION_REASONS: json.dumps(list(decision["reasons"]))[:4900],
        Tag.COMPARED_TO_CHAMPION: str(decision.get("champion_version") or "none"),
        Tag.FORCED: str(bool(decision.get("forced"))).lower(),
    }
    value = metrics.get(primary)
    if value is not None:
        tags[metric_tag(primary)] = f"{value:.6f}"
    return tags
