"""Label-free performance estimation (CBPE): calibration, the expected confusion matrix, the band."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from mlcycle.core.performance import (
    calibrate,
    calibration_error,
    estimate_performance,
    expected_metrics,
    fit_calibrator,
    performance_reference,
    realized_metrics,
)


def _labels(p: np.ndarray, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).uniform(size=len(p)) < p).astype("int64")


def test_a_miscalibrated_model_is_calibrated_and_the_error_goes_down() -> None:
    truth = np.random.default_rng(0).uniform(0.02, 0.98, 20_000)
    y = _labels(truth, 1)
    raw = truth**3  # ranks right, probabilities far too low
    cal = fit_calibrator(raw, y)
    assert cal["method"] in ("isotonic", "sigmoid")
    assert cal["errors"][cal["method"]] < cal["errors"]["none"]
    assert calibration_error(calibrate(cal, raw), y) < calibration_error(raw, y) / 3


def test_a_calibrated_model_keeps_its_probabilities() -> None:
    p = np.random.default_rng(0).uniform(0.02, 0.98, 20_000)
    y = _labels(p, 2)
    cal = fit_calibrator(p, y)
    # kept only if it lowers the cross-fitted error; either way the probabilities barely move
    assert cal["errors"][cal["method"]] <= cal["errors"]["none"]
    assert np.abs(calibrate(cal, p) - p).mean() < 0.03


def test_certain_probabilities_give_the_realized_confusion_matrix() -> None:
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    yhat = np.array([1, 0, 0, 1, 1, 0, 1, 1])
    scores = np.array([0.9, 0.4, 0.2, 0.7, 0.8, 0.1, 0.6, 0.55])
    expected = expected_metrics(y.astype(float), scores, yhat)
    realized = realized_metrics(y, scores, yhat)
    assert expected == pytest.approx(realized)


@functools.cache
def _model_and_reference() -> tuple[HistGradientBoostingClassifier, dict]:
    rng = np.random.default_rng(3)
    X = rng.normal(0, 2, (6_000, 2))
    y = _labels(1 / (1 + np.exp(-(1.2 * X[:, 0] + 0.8 * X[:, 1]))), 4)
    with threadpool_limits(limits=1, user_api="openmp"):  # the machine's cores are shared
        model = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(X[:4_000], y[:4_000])
    p = model.predict_proba(X[4_000:])[:, 1]
    return model, performance_reference(p, y[4_000:], (p > 0.5).astype("int64"))


def test_the_reference_stores_calibration_spread_and_holdout_figures() -> None:
    _, ref = _model_and_reference()
    assert ref["chunk_rows"] == 200 and ref["holdout_rows"] == 2_000
    assert set(ref["spread"]) == {"roc_auc", "accuracy", "precision", "recall", "f1"}
    assert all(0 < s < 0.1 for s in ref["spread"].values())
    assert abs(ref["estimated"]["roc_auc"] - ref["realized"]["roc_auc"]) < 0.02


@pytest.mark.parametrize(("spread", "rows"), [(2.0, 3_000), (0.5, 3_000), (4.0, 3_000), (0.5, 800)])
def test_the_estimate_follows_realized_quality_under_covariate_shift(spread: float, rows: int) -> None:
    model, ref = _model_and_reference()
    rng = np.random.default_rng(int(spread * 10) + rows)
    X = np.c_[rng.normal(0, spread, rows), rng.normal(0, 2, rows)]
    y = _labels(1 / (1 + np.exp(-(1.2 * X[:, 0] + 0.8 * X[:, 1]))), 5)
    p = model.predict_proba(X)[:, 1]
    yhat = (p > 0.5).astype("int64")
    est = estimate_performance(p, yhat, ref)
    real = realized_metrics(y, p, yhat)
    for metric in ("roc_auc", "accuracy"):
        assert abs(est[metric]["value"] - real[metric]) < 0.03, (metric, est[metric], real[metric])
        assert est[metric]["lower"] < est[metric]["value"] < est[metric]["upper"]


def test_the_band_narrows_as_the_window_grows() -> None:
    model, ref = _model_and_reference()
    X = np.random.default_rng(9).normal(0, 2, (10_000, 2))
    p = model.predict_proba(X)[:, 1]
    yhat = (p > 0.5).astype("int64")
    small, large = estimate_performance(p[:500], yhat[:500], ref), estimate_performance(p, yhat, ref)
    width = {k: v["upper"] - v["lower"] for k, v in large.items()}
    assert all(small[k]["upper"] - small[k]["lower"] > 4 * width[k] for k in width)


def test_the_weighted_auc_is_scikit_learns_with_sample_weights() -> None:
    from sklearn.metrics import roc_auc_score

    from mlcycle.core.performance import weighted_auc

    rng = np.random.default_rng(5)
    scores = rng.uniform(size=5_000).round(2)  # many ties
    c = np.clip(scores + rng.normal(0, 0.2, 5_000), 0, 1)
    n = len(scores)
    expected = roc_auc_score(
        np.r_[np.ones(n), np.zeros(n)], np.r_[scores, scores], sample_weight=np.r_[c, 1 - c]
    )
    assert weighted_auc(scores, c) == pytest.approx(expected, abs=1e-12)
