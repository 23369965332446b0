"""Label-free performance estimation for binary classifiers (confidence-based, CBPE).

At training, the champion's positive-class probabilities are calibrated on its holdout (isotonic or
sigmoid, kept only if cross-fitted calibration error goes down) and the realized metrics' spread across
holdout chunks is measured. On a window without labels, a calibrated probability ``c`` is the chance the
row is positive, so the expected confusion matrix is ``TP = Σ c·ŷ``, ``FP = Σ (1-c)·ŷ``,
``FN = Σ c·(1-ŷ)``, ``TN = Σ (1-c)·(1-ŷ)`` and ROC AUC is the AUC with each row counted as positive
with weight ``c`` and negative with weight ``1-c``. It holds under covariate shift (``P(y|x)`` unchanged)
and cannot see concept drift: docs/monitoring.md, the blind spot.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ESTIMATED_METRICS: tuple[str, ...] = ("roc_auc", "accuracy", "precision", "recall", "f1")
BAND_SIGMAS = 2.0  # the band is ±2 standard errors of the metric at the window's size
_BINS = 10


def calibration_error(proba: np.ndarray, y: np.ndarray) -> float:
    """Expected calibration error over ten equal-count bins."""
    import numpy as np

    order = np.argsort(proba, kind="stable")
    return float(
        sum(abs(proba[b].mean() - y[b].mean()) * len(b) for b in np.array_split(order, _BINS) if len(b))
        / max(len(proba), 1)
    )


def _fit(method: str, proba: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(proba, y)
        return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6).fit(_logit(proba).reshape(-1, 1), y)
        return {"method": "sigmoid", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
    return {"method": "none"}


def _logit(p: np.ndarray) -> np.ndarray:
    import numpy as np

    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibrate(calibrator: dict[str, Any], proba: np.ndarray) -> np.ndarray:
    """Apply a stored calibrator (``fit_calibrator``'s JSON) to raw positive-class probabilities."""
    import numpy as np

    proba = np.asarray(proba, dtype="float64")
    if calibrator["method"] == "isotonic":
        return np.interp(proba, calibrator["x"], calibrator["y"])
    if calibrator["method"] == "sigmoid":
        return 1.0 / (1.0 + np.exp(-(calibrator["a"] * _logit(proba) + calibrator["b"])))
    return proba


def fit_calibrator(proba: np.ndarray, y: np.ndarray, seed: int = 0, folds: int = 5) -> dict[str, Any]:
    """The calibrator with the lowest ``folds``-fold cross-fitted calibration error on the holdout
    (``none`` unless one lowers it); JSON-ready, with each candidate's error.

    Isotonic is the average of its fold fits (piecewise linear on the union of their knots: smoother than
    one in-sample fit); sigmoid is refitted on the whole holdout.
    """
    import numpy as np

    proba, y = np.asarray(proba, dtype="float64"), np.asarray(y, dtype="float64")
    fold = np.random.default_rng(seed).permutation(len(y)) % folds
    errors: dict[str, float] = {}
    fits: dict[str, list[dict[str, Any]]] = {"isotonic": [], "sigmoid": []}
    for method in ("none", "isotonic", "sigmoid"):
        out = proba.copy()
        for k in range(folds):
            fit_on, apply_on = fold != k, fold == k
            if method != "none" and len(np.unique(y[fit_on])) == 2:
                fits[method].append(_fit(method, proba[fit_on], y[fit_on]))
                out[apply_on] = calibrate(fits[method][-1], proba[apply_on])
        errors[method] = calibration_error(out, y)
    best = min(errors, key=lambda m: (errors[m], m != "none"))
    if best == "isotonic" and fits["isotonic"]:
        knots = np.unique(np.concatenate([f["x"] for f in fits["isotonic"]]))
        mean = np.mean([np.interp(knots, f["x"], f["y"]) for f in fits["isotonic"]], axis=0)
        return {"method": "isotonic", "x": knots.tolist(), "y": mean.tolist(), "errors": errors}
    return {**_fit(best, proba, y), "errors": errors}


def expected_metrics(
    calibrated: np.ndarray, scores: np.ndarray, predicted: np.ndarray
) -> dict[str, float | None]:
    """CBPE's point estimates from calibrated probabilities, ranking scores and predicted labels (0/1)."""
    import numpy as np

    c, yhat = np.asarray(calibrated, dtype="float64"), np.asarray(predicted, dtype="float64")
    tp, fp = float((c * yhat).sum()), float(((1 - c) * yhat).sum())
    fn, tn = float((c * (1 - yhat)).sum()), float(((1 - c) * (1 - yhat)).sum())
    n = tp + fp + fn + tn
    out: dict[str, float | None] = {
        "accuracy": (tp + tn) / n if n else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        "roc_auc": None,
    }
    if 0 < c.sum() < len(c):
        out["roc_auc"] = weighted_auc(np.asarray(scores, dtype="float64"), c)
    return out


def weighted_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC with each row positive with weight ``positive`` and negative with ``1 - positive`` (ties
    share a threshold, as in scikit-learn's ``roc_curve``); one sort of the rows."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    tp = np.cumsum(positive[order])
    fp = np.cumsum(1.0 - positive[order])
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # the last row of each distinct score
    tpr = np.r_[0.0, tp[last]] / tp[-1]
    fpr = np.r_[0.0, fp[last]] / fp[-1]
    return float(np.trapezoid(tpr, fpr))


def realized_metrics(y: np.ndarray, scores: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """The same metrics on labels (0/1), for the reference's spread and realized-vs-estimated records."""
    import numpy as np
    from sklearn import metrics as m

    y, yhat = np.asarray(y), np.asarray(predicted)
    prec, rec, f1, _ = m.precision_recall_fscore_support(y, yhat, average="binary", zero_division=0)
    return {
        "accuracy": float(m.accuracy_score(y, yhat)),
        "precision": float(prec),
        "recall": float(rec),
        "f1": float(f1),
        "roc_auc": float(m.roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else None,
    }


def performance_reference(
    proba: np.ndarray, y: np.ndarray, predicted: np.ndarray, chunks: int = 10, seed: int = 0
) -> dict[str, Any]:
    """What the estimate needs, measured on the holdout: the calibrator and each metric's standard
    deviation across ``chunks`` random chunks of the holdout (with their size), stored with the model."""
    import numpy as np

    calibrator = fit_calibrator(proba, y, seed)
    parts = np.array_split(np.random.default_rng(seed).permutation(len(y)), chunks)
    per_chunk = [realized_metrics(y[p], proba[p], predicted[p]) for p in parts]
    spread: dict[str, float] = {}
    for k in ESTIMATED_METRICS:
        values = [float(v) for r in per_chunk if (v := r[k]) is not None]
        spread[k] = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return {
        "calibrator": calibrator,
        "chunk_rows": int(len(y) // chunks),
        "spread": spread,
        "holdout_rows": int(len(y)),
        "realized": realized_metrics(y, proba, predicted),
        "estimated": expected_metrics(calibrate(calibrator, proba), proba, predicted),
    }


def estimate_performance(
    proba: np.ndarray, predicted: np.ndarray, reference: dict[str, Any]
) -> dict[str, dict[str, float | None]]:
    """Per metric the estimate and its band for a window: ``{metric: {value, lower, upper}}``.

    ``proba`` are the champion's raw positive-class probabilities, ``predicted`` its labels as 0/1 and
    ``reference`` what ``performance_reference`` stored; the band's half width is ``BAND_SIGMAS`` times
    the holdout's chunk spread scaled to the window's size (``sigma * sqrt(chunk_rows / rows)``).
    """
    import numpy as np

    proba = np.asarray(proba, dtype="float64")
    point = expected_metrics(calibrate(reference["calibrator"], proba), proba, predicted)
    scale = math.sqrt(reference["chunk_rows"] / max(len(proba), 1))
    out: dict[str, dict[str, float | None]] = {}
    for metric, value in point.items():
        sigma = reference["spread"].get(metric)
        if value is None or sigma is None or not np.isfinite(sigma):
            out[metric] = {"value": value, "lower": None, "upper": None}
            continue
        half = BAND_SIGMAS * sigma * scale
        out[metric] = {"value": value, "lower": max(0.0, value - half), "upper": min(1.0, value + half)}
    return out
