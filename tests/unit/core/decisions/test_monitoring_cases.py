"""The four synthetic cases, end to end through the pure code: a champion fitted on reference data, its
calibration and no-drift baseline, then monthly windows measured, judged and guarded.

harmless covariate drift -> never above ``drift``, no alert, no retrain; concept drift with labels ->
``degraded`` and one retrain; covariate drift that hurts, without labels -> ``at_risk`` through the
estimate; concept drift without labels -> the blind spot (the estimate cannot see it).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from mlcycle.config.monitoring import MonitoringConfig
from mlcycle.core.decisions.monitoring import (
    AT_RISK,
    DEGRADED,
    DRIFT,
    OK,
    GuardState,
    decide_action,
    decide_drift,
)
from mlcycle.core.drift import (
    build_profile,
    dataset_drift,
    domain_baseline,
    domain_classifier,
    domain_threshold,
)
from mlcycle.core.performance import estimate_performance, performance_reference, realized_metrics

COLUMNS = ["x0", "x1", "x2", "x3"]
POLICY = MonitoringConfig.model_validate(
    {"retrain": {"enabled": True, "cooldown_hours": 24 * 90}, "quality": {"max_drop": 0.05}}
)


def generate(rows: int, seed: int, spread: float = 2.0, noise_shift: float = 0.0, concept: bool = False):
    """``x0`` and ``x1`` drive the label; ``x2`` and ``x3`` are noise. ``spread`` narrows ``x0`` towards
    the decision boundary (harder rows), ``noise_shift`` moves a noise column, ``concept`` changes P(y|x)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x0": rng.normal(0, spread, rows),
            "x1": rng.normal(0, 1, rows),
            "x2": rng.normal(noise_shift, 1, rows),
            "x3": rng.normal(0, 1, rows),
        }
    )
    logit = (-0.2 if concept else 1.2) * frame["x0"] + 0.8 * frame["x1"]
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    return frame, y.to_numpy()


@functools.cache
def champion() -> dict[str, Any]:
    X, y = generate(8_000, 1)
    holdout, y_hold = generate(3_000, 2)
    with threadpool_limits(limits=1, user_api="openmp"):
        model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(X, y)
        p = model.predict_proba(holdout)[:, 1]
        baseline = domain_baseline(X.sample(4_000, random_state=0), COLUMNS, [], 0)
    perf = performance_reference(p, y_hold, (p > 0.5).astype("int64"))
    return {
        "model": model,
        "X": X,
        "profile": build_profile(X, COLUMNS, []),
        "perf": perf,
        "baseline": baseline,
    }


def judge(window: pd.DataFrame, y: np.ndarray, labelled: bool) -> Any:
    champ = champion()
    with threadpool_limits(limits=1, user_api="openmp"):
        p = champ["model"].predict_proba(window)[:, 1]
        threshold, basis = domain_threshold(champ["baseline"], None, POLICY.drift.domain_auc_margin)
        domain = domain_classifier(champ["X"], window, COLUMNS, [], 2_000, threshold, 0).to_dict()
    yhat = (p > 0.5).astype("int64")
    validation = champ["perf"]["realized"]
    estimate = {
        "metrics": estimate_performance(p, yhat, champ["perf"]),
        "reference": validation,
        "rows": len(window),
    }
    realized = realized_metrics(y, p, yhat)
    quality = {"metrics": realized, "reference": validation, "rows": len(y)} if labelled else None
    drift = dataset_drift(champ["profile"], window, COLUMNS, None, 0.5).to_dict()
    verdict = decide_drift(drift, {**domain, "threshold_basis": basis}, quality, POLICY, "roc_auc", estimate)
    return verdict, estimate, realized


def run_months(months: int, labelled: bool, **shape: Any) -> tuple[list[str], int, int]:
    """Judge and guard ``months`` monthly windows; the statuses, alerts and retrains."""
    statuses: list[str] = []
    last_alert = last_retrain = None
    alerts = retrains = 0
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for m in range(months):
        window, y = generate(2_000, 100 + m, **shape)
        verdict, _, _ = judge(window, y, labelled)
        statuses.append(verdict.status)
        now = start + timedelta(days=30 * (m + 1))
        state = GuardState(tuple(statuses[-1:]), last_retrain, last_alert)
        action = decide_action(verdict.status, state, POLICY, now, alerts_enabled=True)
        if action.alert:
            alerts, last_alert = alerts + 1, now
        if action.retrain:
            retrains, last_retrain = retrains + 1, now
    return statuses, alerts, retrains


def test_no_drift_is_ok() -> None:
    statuses, alerts, retrains = run_months(2, labelled=False)
    assert statuses == [OK, OK] and (alerts, retrains) == (0, 0)


def test_harmless_covariate_drift_is_recorded_never_acted_on() -> None:
    statuses, alerts, retrains = run_months(3, labelled=True, noise_shift=1.0)
    assert statuses == [DRIFT, DRIFT, DRIFT]
    assert (alerts, retrains) == (0, 0)
    statuses, alerts, retrains = run_months(3, labelled=False, noise_shift=1.0)  # the estimate agrees
    assert statuses == [DRIFT, DRIFT, DRIFT] and (alerts, retrains) == (0, 0)


def test_concept_drift_with_labels_is_degraded_and_retrains_once() -> None:
    statuses, alerts, retrains = run_months(3, labelled=True, concept=True)
    assert statuses == [DEGRADED, DEGRADED, DEGRADED]
    assert (alerts, retrains) == (1, 1)  # the 90-day cooldown holds the second and third


def test_covariate_drift_that_hurts_without_labels_is_at_risk() -> None:
    window, y = generate(2_000, 7, spread=0.4)
    verdict, estimate, realized = judge(window, y, labelled=False)
    assert verdict.status == AT_RISK
    assert verdict.signals[0].name == "estimated_quality" and verdict.signals[0].fired
    est = estimate["metrics"]["roc_auc"]
    assert realized["roc_auc"] < champion()["perf"]["realized"]["roc_auc"] - 0.05  # it really hurts
    assert abs(est["value"] - realized["roc_auc"]) < 0.05


def test_blind_spot_concept_drift_without_labels_cannot_be_estimated() -> None:
    """Documented in docs/monitoring.md: CBPE assumes P(y|x) is unchanged, so it misses this."""
    window, y = generate(2_000, 8, concept=True)
    verdict, estimate, realized = judge(window, y, labelled=False)
    assert realized["roc_auc"] < 0.6  # the model is broken on this window ...
    assert estimate["metrics"]["roc_auc"]["value"] > 0.85  # ... and the estimate cannot know
    assert verdict.status == OK  # the features did not move either: only labels would tell
    labelled, _, _ = judge(window, y, labelled=True)
    assert labelled.status == DEGRADED


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_the_domain_threshold_is_calibrated_on_the_baseline(shift: float) -> None:
    base = champion()["baseline"]
    assert 0.45 < base["auc"] < 0.56 and base["std"] < 0.05
    threshold, basis = domain_threshold(base, None, POLICY.drift.domain_auc_margin)
    assert threshold == pytest.approx(base["auc"] + max(0.05, 3 * base["std"]), abs=1e-4)
    assert basis.startswith("no-drift baseline")
    window, y = generate(2_000, 9, noise_shift=shift)
    verdict, _, _ = judge(window, y, labelled=False)
    domain = next(s for s in verdict.signals if s.name == "domain_classifier")
    assert domain.fired is (shift > 0)
