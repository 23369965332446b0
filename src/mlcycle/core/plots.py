"""Holdout plots: confusion matrix and ROC curve (classification) or residuals (regression)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlcycle.config.loader import Pipeline
from mlcycle.core.metrics import Predictions

if TYPE_CHECKING:
    import pandas as pd


def holdout_figures(pipe: Pipeline, scored: Predictions, y: pd.Series) -> Iterator[tuple[str, Any]]:
    """``(artifact file, figure)`` per plot; each figure is closed once the caller has stored it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    if pipe.config.model.is_classification:
        fig, ax = plt.subplots(figsize=(5, 4))
        ConfusionMatrixDisplay.from_predictions(y, scored.values, ax=ax, colorbar=False)
        ax.set_title(f"{pipe.name}: confusion matrix (holdout)")
        yield "plots/confusion_matrix.png", fig
        plt.close(fig)
        if (
            pipe.config.model.task == "binary_classification"
            and y.nunique() == 2
            and scored.proba is not None
        ):
            fig, ax = plt.subplots(figsize=(5, 4))
            pos = scored.positive
            RocCurveDisplay.from_predictions(
                y, scored.proba[:, list(scored.classes).index(pos)], ax=ax, pos_label=pos
            )
            ax.set_title(f"{pipe.name}: ROC (holdout)")
            yield "plots/roc_curve.png", fig
            plt.close(fig)
    else:
        pred = scored.values
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(pred, y - pred, s=4, alpha=0.4)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("residual")
        ax.set_title(f"{pipe.name}: residuals (holdout)")
        yield "plots/residuals.png", fig
        plt.close(fig)
