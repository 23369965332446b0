"""What a data scientist expects in the model card, measured on the holdout: permutation importance and,
for binary classifiers, the base rate, the decision threshold, the calibration curve with the Brier score
and the precision-recall curve. JSON-ready; the card draws the curves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcycle.config.loader import Pipeline
from mlcycle.core.metrics import Predictions

if TYPE_CHECKING:
    import pandas as pd

IMPORTANCE_ROWS = 5_000  # holdout rows permuted (a seeded sample): the ranking is stable well below that
CURVE_POINTS = 100


def _thin(xs: Any, ys: Any, points: int = CURVE_POINTS) -> tuple[list[float], list[float]]:
    import numpy as np

    idx = np.unique(np.linspace(0, len(xs) - 1, min(points, len(xs))).round().astype(int))
    return [round(float(x), 4) for x in np.asarray(xs)[idx]], [
        round(float(y), 4) for y in np.asarray(ys)[idx]
    ]


def holdout_evidence(
    pipe: Pipeline, model: Any, X: pd.DataFrame, y: pd.Series, scored: Predictions
) -> dict[str, Any]:
    """The evidence of ``model`` on its holdout ``(X, y)``, scored once as ``scored``."""
    import numpy as np
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import average_precision_score, brier_score_loss, precision_recall_curve

    cfg = pipe.config
    binary = cfg.model.task == "binary_classification"
    scoring = {"binary_classification": "roc_auc", "multiclass_classification": "accuracy"}.get(
        cfg.model.task, "neg_root_mean_squared_error"
    )
    seed = cfg.model.split.seed
    rows = X.sample(min(len(X), IMPORTANCE_ROWS), random_state=seed).index
    out: dict[str, Any] = {"importance_scoring": scoring, "importance_rows": len(rows)}
    try:
        imp = permutation_importance(
            model, X.loc[rows], y.loc[rows], scoring=scoring, n_repeats=3, random_state=seed
        )
        ranked = sorted(
            zip(X.columns, imp.importances_mean, imp.importances_std, strict=True), key=lambda t: -t[1]
        )
        out["permutation_importance"] = [
            {"feature": str(f), "drop": round(float(m), 4), "std": round(float(s), 4)} for f, m, s in ranked
        ]
    except ValueError as exc:  # a single-class holdout sample has no ROC AUC
        out["permutation_importance_skipped"] = str(exc)[:300]
    if not (binary and scored.proba is not None and y.nunique() == 2):
        return out
    pos = scored.positive
    p = scored.proba[:, list(scored.classes).index(pos)]
    truth = (y.to_numpy() == pos).astype("int64")
    order = np.argsort(p, kind="stable")
    bins = [b for b in np.array_split(order, 10) if len(b)]
    precision, recall, _ = precision_recall_curve(truth, p)
    rec, prec = _thin(recall[::-1], precision[::-1])
    out.update(
        positive_class=str(pos),
        base_rate=round(float(truth.mean()), 4),
        decision_threshold=0.5,
        decision_rule="the most probable class: positive when its probability is above 0.5",
        predicted_positive_rate=round(float((scored.values == pos).mean()), 4),
        brier=round(float(brier_score_loss(truth, p)), 4),
        calibration_curve={
            "predicted": [round(float(p[b].mean()), 4) for b in bins],
            "observed": [round(float(truth[b].mean()), 4) for b in bins],
        },
        pr_curve={"recall": rec, "precision": prec},
        average_precision=round(float(average_precision_score(truth, p)), 4),
    )
    return out
