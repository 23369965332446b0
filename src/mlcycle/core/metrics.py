"""Holdout metrics, per-slice metrics and fairness figures of one scoring pass."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlcycle.config.catalogs import CLASSIFICATION_METRICS, REGRESSION_METRICS
from mlcycle.config.loader import Pipeline

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def _clean(value: float) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


@dataclass(frozen=True)
class Predictions:
    """One model's outputs on a set of rows, from one pass over them: labels (or values) and, for
    classifiers, the class probabilities (columns in ``classes`` order). Metrics, slices, fairness and
    plots all read these, so a holdout is scored once per model, not once per figure."""

    values: np.ndarray
    proba: np.ndarray | None = None
    classes: tuple[Any, ...] = ()

    @property
    def positive(self) -> Any:
        """The positive class of a binary classifier: 1 if a class, else the last class."""
        return 1 if 1 in self.classes else self.classes[-1]

    def take(self, positions: np.ndarray) -> Predictions:
        return Predictions(
            self.values[positions], None if self.proba is None else self.proba[positions], self.classes
        )


def predict_rows(pipe: Pipeline, model: Any, X: pd.DataFrame) -> Predictions:
    """Score ``X`` once. A classifier's label is its most probable class, which is what every
    allow-listed classifier's ``predict`` returns (tests/integration/core/decisions/test_monitor_decisions.py
    checks it)."""
    import numpy as np

    if not pipe.config.model.is_classification:
        return Predictions(np.asarray(model.predict(X)))
    classes = tuple(model.classes_)
    if not hasattr(model, "predict_proba"):
        return Predictions(np.asarray(model.predict(X)), None, classes)
    proba = model.predict_proba(X)
    return Predictions(np.asarray(model.classes_)[proba.argmax(axis=1)], proba, classes)


def compute_metrics(pipe: Pipeline, model: Any, X: pd.DataFrame, y: pd.Series) -> dict[str, float | None]:
    """Every metric of the task type on ``(X, y)``; None where a metric is undefined."""
    return metrics_of(pipe, predict_rows(pipe, model, X), y)


def metrics_of(pipe: Pipeline, scored: Predictions, y: pd.Series) -> dict[str, float | None]:
    """Every metric of the task type of ``scored`` against the labels ``y`` (same rows, same order)."""
    from sklearn import metrics as m

    pred = scored.values
    if not pipe.config.model.is_classification:
        return {
            "rmse": _clean(math.sqrt(m.mean_squared_error(y, pred))),
            "mae": _clean(m.mean_absolute_error(y, pred)),
            "r2": _clean(m.r2_score(y, pred)) if len(y) > 1 else None,
        }
    out: dict[str, float | None] = {"accuracy": _clean(m.accuracy_score(y, pred))}
    binary = pipe.config.model.task == "binary_classification"
    average = "binary" if binary else "macro"
    pos = scored.positive if binary else 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # one pass for all three (what f1_score, precision_score and recall_score each compute in full)
        kwargs = {"pos_label": pos} if binary else {}
        precision, recall, f1, _ = m.precision_recall_fscore_support(
            y, pred, average=average, zero_division=0, **kwargs
        )
        out.update(f1=_clean(f1), precision=_clean(precision), recall=_clean(recall))
        classes, proba = list(scored.classes), scored.proba
        if proba is None or y.nunique() < 2:
            out["roc_auc"] = None
            out["log_loss"] = None
        else:
            if binary:
                out["roc_auc"] = _clean(m.roc_auc_score(y == pos, proba[:, classes.index(pos)]))
            else:
                out["roc_auc"] = _clean(
                    m.roc_auc_score(y, proba, multi_class="ovr", average="weighted", labels=classes)
                )
            out["log_loss"] = _clean(m.log_loss(y, proba, labels=classes))
    return {k: out.get(k) for k in CLASSIFICATION_METRICS}


def _groups(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype("string").fillna("<null>")


def slice_metrics(
    pipe: Pipeline,
    scored: Predictions,
    y: pd.Series,
    frame: pd.DataFrame,
    champion: Predictions | None = None,
) -> list[dict[str, Any]]:
    """Metrics per value of each slice column, for slices with at least ``min_slice_size`` rows;
    with the ``champion``'s predictions, its metrics on the same rows as ``champion_metrics``."""
    policy = pipe.config.evaluation
    rows = []
    for column in policy.slices:
        values = _groups(frame, column)
        for value, idx in values.groupby(values, sort=True).groups.items():
            if len(idx) < policy.min_slice_size:
                rows.append({"column": column, "value": str(value), "rows": len(idx), "skipped": "too small"})
                continue
            pos = frame.index.get_indexer(idx)
            ys = y.iloc[pos]
            row = {
                "column": column,
                "value": str(value),
                "rows": len(idx),
                "metrics": metrics_of(pipe, scored.take(pos), ys),
            }
            if champion is not None:
                row["champion_metrics"] = metrics_of(pipe, champion.take(pos), ys)
            rows.append(row)
    return rows


# The rate each fairness metric compares across groups; equalized odds takes the larger of two gaps.
FAIRNESS_RATES = {
    "positive_rate_difference": ("positive_rate",),
    "recall_difference": ("recall",),
    "false_positive_rate_difference": ("false_positive_rate",),
    "equalized_odds_difference": ("recall", "false_positive_rate"),
}


def fairness_report(
    pipe: Pipeline, scored: Predictions, y: pd.Series, frame: pd.DataFrame
) -> dict[str, Any] | None:
    """Per-group rates of a model's holdout predictions and the configured fairness figure (None if unset)."""
    cfg = pipe.config.evaluation.fairness
    if cfg is None:
        return None
    positive = scored.positive
    predicted = scored.values == positive
    return fairness_figure(
        (y == positive).to_numpy(),
        predicted,
        _groups(frame, cfg.sensitive).to_numpy(),
        cfg.metric,
        pipe.config.evaluation.min_slice_size,
        cfg.sensitive,
    )


def fairness_figure(
    actual: Any, predicted: Any, groups: Any, metric: str, min_rows: int, column: str
) -> dict[str, Any]:
    """Positive rate, recall and false positive rate per group (boolean arrays in), and the largest gap
    between groups of the metric's rate(s). Groups under ``min_rows`` rows are skipped."""
    import numpy as np

    actual, predicted, groups = np.asarray(actual, bool), np.asarray(predicted, bool), np.asarray(groups)
    rows: list[dict[str, Any]] = []
    for value in sorted(set(groups.tolist()), key=str):
        mask = groups == value
        n, pos, neg = int(mask.sum()), int((actual & mask).sum()), int((~actual & mask).sum())
        row: dict[str, Any] = {"value": str(value), "rows": n, "positives": pos}
        if n < min_rows:
            row["skipped"] = f"too small (< {min_rows} rows)"
        else:
            row["positive_rate"] = float(predicted[mask].mean())
            row["recall"] = float((predicted & actual & mask).sum() / pos) if pos else None
            row["false_positive_rate"] = float((predicted & ~actual & mask).sum() / neg) if neg else None
        rows.append(row)
    out: dict[str, Any] = {"sensitive": column, "metric": metric, "groups": rows, "value": None}
    gaps = []
    for rate in FAIRNESS_RATES[metric]:
        defined = [(r[rate], r["value"]) for r in rows if r.get(rate) is not None]
        if len(defined) < 2:
            out["why"] = f"fewer than 2 {column} groups with >= {min_rows} rows and a defined {rate}"
            return out
        (low, low_g), (high, high_g) = min(defined), max(defined)
        gaps.append((high - low, f"{rate}: lowest {low_g} {low:.4f}, highest {high_g} {high:.4f}"))
    out["value"], out["extremes"] = max(gaps)
    return out


def metric_names(pipe: Pipeline) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if pipe.config.model.is_classification else REGRESSION_METRICS
