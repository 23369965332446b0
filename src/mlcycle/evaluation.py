"""Evaluation: holdout metrics, per-slice metrics and plots for the candidate and the champion."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

from mlcycle.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, Pipeline

if TYPE_CHECKING:
    import pandas as pd


def _clean(value: float) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def compute_metrics(pipe: Pipeline, model: Any, X: pd.DataFrame, y: pd.Series) -> dict[str, float | None]:
    """Every metric of the task type on ``(X, y)``; None where a metric is undefined."""
    from sklearn import metrics as m

    if not pipe.config.model.is_classification:
        pred = model.predict(X)
        return {
            "rmse": _clean(math.sqrt(m.mean_squared_error(y, pred))),
            "mae": _clean(m.mean_absolute_error(y, pred)),
            "r2": _clean(m.r2_score(y, pred)) if len(y) > 1 else None,
        }
    pred = model.predict(X)
    out: dict[str, float | None] = {"accuracy": _clean(m.accuracy_score(y, pred))}
    binary = pipe.config.model.task == "binary_classification"
    average = "binary" if binary else "macro"
    pos = _positive_label(model) if binary else 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in (("f1", m.f1_score), ("precision", m.precision_score), ("recall", m.recall_score)):
            kwargs = {"pos_label": pos} if binary else {}
            out[name] = _clean(fn(y, pred, average=average, zero_division=0, **kwargs))
        classes = list(model.classes_)
        proba = model.predict_proba(X) if hasattr(model, "predict_proba") else None
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


def _positive_label(model: Any) -> Any:
    classes = list(model.classes_)
    return 1 if 1 in classes else classes[-1]


def slice_metrics(
    pipe: Pipeline, model: Any, X: pd.DataFrame, y: pd.Series, frame: pd.DataFrame
) -> list[dict[str, Any]]:
    """Metrics per value of each slice column, for slices with at least ``min_slice_size`` rows."""
    policy = pipe.config.evaluation
    rows = []
    for column in policy.slices:
        values = frame[column].astype("string").fillna("<null>")
        for value, idx in values.groupby(values, sort=True).groups.items():
            if len(idx) < policy.min_slice_size:
                rows.append({"column": column, "value": str(value), "rows": len(idx), "skipped": "too small"})
                continue
            pos = frame.index.get_indexer(idx)
            metrics = compute_metrics(pipe, model, X.iloc[pos], y.iloc[pos])
            rows.append({"column": column, "value": str(value), "rows": len(idx), "metrics": metrics})
    return rows


def log_plots(pipe: Pipeline, model: Any, X: pd.DataFrame, y: pd.Series) -> list[str]:
    """Confusion matrix and ROC curve (classification) or residuals (regression) into the active run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    names = []
    if pipe.config.model.is_classification:
        fig, ax = plt.subplots(figsize=(5, 4))
        ConfusionMatrixDisplay.from_estimator(model, X, y, ax=ax, colorbar=False)
        ax.set_title(f"{pipe.name}: confusion matrix (holdout)")
        mlflow.log_figure(fig, "plots/confusion_matrix.png")
        plt.close(fig)
        names.append("plots/confusion_matrix.png")
        if pipe.config.model.task == "binary_classification" and y.nunique() == 2:
            fig, ax = plt.subplots(figsize=(5, 4))
            RocCurveDisplay.from_estimator(model, X, y, ax=ax, pos_label=_positive_label(model))
            ax.set_title(f"{pipe.name}: ROC (holdout)")
            mlflow.log_figure(fig, "plots/roc_curve.png")
            plt.close(fig)
            names.append("plots/roc_curve.png")
    else:
        pred = model.predict(X)
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(pred, y - pred, s=4, alpha=0.4)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("residual")
        ax.set_title(f"{pipe.name}: residuals (holdout)")
        mlflow.log_figure(fig, "plots/residuals.png")
        plt.close(fig)
        names.append("plots/residuals.png")
    return names


def load_sklearn_model(model_uri: str, tags: dict[str, str] | None = None, label: str | None = None) -> Any:
    """The model at ``model_uri``, its files checked against the checksum ``tags`` recorded at
    training, deserialized by skops with the type allow-list only (see ``mlcycle.integrity``)."""
    from mlcycle.integrity import load_verified_model

    return load_verified_model(model_uri, tags, label or model_uri)


def metric_names(pipe: Pipeline) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if pipe.config.model.is_classification else REGRESSION_METRICS
