"""A window judged again when its labels land: the same rule as at scoring time, labels outranking the
estimate, the recorded drift signals kept."""

from __future__ import annotations

from dataclasses import asdict

from mlcycle.config.monitoring import MonitoringConfig
from mlcycle.core.decisions.monitoring import (
    AT_RISK,
    DEGRADED,
    DRIFT,
    OK,
    Signal,
    decide_drift,
    realize,
    realized_signal,
)

POLICY = MonitoringConfig.model_validate({"quality": {"max_drop": 0.05}})
NO_DRIFT = {
    "drifted": False,
    "share": 0.0,
    "share_threshold": 0.5,
    "columns": ["a", "b"],
    "drifted_columns": [],
}
DRIFTED = {**NO_DRIFT, "drifted": True, "share": 1.0, "drifted_columns": ["a", "b"]}


def _estimate(value: float) -> dict:
    return {"metrics": {"roc_auc": {"value": value, "lower": value - 0.01, "upper": value + 0.01}},
            "reference": {"roc_auc": 0.80}, "rows": 500}  # fmt: skip


def _quality(value: float) -> dict:
    return {"metrics": {"roc_auc": value}, "reference": {"roc_auc": 0.80}, "rows": 400}


def _scored(drift: dict, estimate: float) -> list[dict]:
    verdict = decide_drift(drift, None, None, POLICY, "roc_auc", _estimate(estimate))
    return [asdict(s) for s in verdict.signals]


def test_the_blind_spot_is_caught_when_labels_land() -> None:
    """Drift without a quality drop in the estimate (who churns changed): `drift`, then `degraded`."""
    recorded = _scored(DRIFTED, 0.79)
    assert decide_drift(DRIFTED, None, None, POLICY, "roc_auc", _estimate(0.79)).status == DRIFT
    signal = realized_signal(_quality(0.70), POLICY, "roc_auc")
    assert signal is not None and signal.fired
    judged = realize(recorded, signal)
    assert judged.status == DEGRADED
    assert judged.signals[0].name == "realized_quality"  # the deciding signal leads
    names = [s.name for s in judged.signals]
    assert names.count("realized_quality") == 1 and "dataset_drift" in names


def test_labels_clear_an_estimate_that_was_wrong() -> None:
    recorded = _scored(NO_DRIFT, 0.70)  # estimated drop 0.10: at risk
    assert decide_drift(NO_DRIFT, None, None, POLICY, "roc_auc", _estimate(0.70)).status == AT_RISK
    judged = realize(recorded, realized_signal(_quality(0.79), POLICY, "roc_auc"))  # type: ignore[arg-type]
    assert judged.status == OK
    estimated = next(s for s in judged.signals if s.name == "estimated_quality")
    assert not estimated.fired and estimated.text.endswith("; labels decide")


def test_realize_is_the_rule_of_decide_drift() -> None:
    """Judging scoring-time signals plus labels equals deciding with the labels present from the start."""
    for drift in (NO_DRIFT, DRIFTED):
        for est in (0.70, 0.79):
            for real in (0.70, 0.79):
                at_once = decide_drift(drift, None, _quality(real), POLICY, "roc_auc", _estimate(est))
                later = realize(_scored(drift, est), realized_signal(_quality(real), POLICY, "roc_auc"))  # type: ignore[arg-type]
                assert later.status == at_once.status, (drift["drifted"], est, real)
                assert sorted(later.reasons) == sorted(at_once.reasons)


def test_a_second_realization_replaces_the_first() -> None:
    first = realize(_scored(NO_DRIFT, 0.79), Signal("realized_quality", True, 0.1, 0.05, "old"))
    again = realize([asdict(s) for s in first.signals], realized_signal(_quality(0.80), POLICY, "roc_auc"))  # type: ignore[arg-type]
    assert [s.name for s in again.signals].count("realized_quality") == 1
    assert again.status == OK
