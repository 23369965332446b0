"""Pure decisions: no I/O, no MLflow. The side effects live in ``registry``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mlcycle.config import LOWER_IS_BETTER, EvaluationConfig

# Metric differences are float arithmetic: a regression of exactly max_regression must still pass.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class ChampionScore:
    """The current champion as scored on the candidate's holdout (or why it could not be)."""

    version: str
    metrics: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: tuple[str, ...]
    champion_version: str | None
    forced: bool = False

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
) -> Decision:
    """Thresholds met and no regression beyond ``policy.max_regression`` against the champion."""
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

    version = champion.version if champion else None
    if failures and force:
        return Decision(
            True,
            ("forced by the run's force_promote param despite:", *failures, *passes),
            version,
            True,
        )
    return Decision(not failures, tuple(failures + passes), version)
