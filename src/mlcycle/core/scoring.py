"""A model's outputs per row, as monitored: served prediction, probability, drift column."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcycle.config.loader import Pipeline
from mlcycle.errors import MlcycleError

if TYPE_CHECKING:
    import pandas as pd


PREDICTION = "prediction"  # what is served: the model's output after the postprocess rules

MODEL_PREDICTION = "model_prediction"  # the model's (or fallback's) own output; drift is measured on it

PROBABILITY = "probability"

CHAMPION_SERVED = "champion"

FALLBACK = "fallback"


class UnseenLabelError(MlcycleError):
    """The window's labels hold classes the champion never saw: its quality cannot be measured."""


def check_known_labels(pipe: Pipeline, model: Any, labels: pd.Series, version: str) -> None:
    """Refuse labels outside the champion's classes, naming the column, each label and its count."""
    import numpy as np

    known = set(np.asarray(model.classes_).tolist())
    counts = labels.value_counts()
    unseen = {v: int(n) for v, n in counts.items() if v not in known}
    if unseen:
        column = labels.name
        raise UnseenLabelError(
            f"label column {column!r} has {sum(unseen.values())} row(s) with labels champion v{version} "
            f"of {pipe.model_name!r} never saw in training: {unseen} (known: {sorted(known, key=str)}). "
            "Fix the labels upstream, or retrain on data that has the new class; set "
            "monitoring.quality.label_column: null to monitor without labels."
        )


def prediction_kind(pipe: Pipeline) -> str:
    """Binary classifiers and regressors drift on a number; multiclass on the predicted label."""
    return "categorical" if pipe.config.model.task == "multiclass_classification" else "numeric"


def predict(pipe: Pipeline, model: Any, X: pd.DataFrame) -> dict[str, Any]:
    """The model's output per row: ``prediction`` (label or value) and, for classifiers, ``probability``.

    For binary classification ``probability`` is the positive class's; for multiclass the top class's.
    One pass of the model over X (``evaluation.predict_rows``): labels come from the probabilities.
    """
    import numpy as np

    from mlcycle.core.metrics import predict_rows

    scored = predict_rows(pipe, model, X)
    if not pipe.config.model.is_classification:
        return {PREDICTION: np.asarray(scored.values, dtype="float64")}
    if scored.proba is None:  # every classifier in the allow-list has predict_proba
        raise MlcycleError(f"{type(model).__name__} has no predict_proba; it cannot be monitored")
    if pipe.config.model.task == "binary_classification":
        positive = scored.proba[:, list(scored.classes).index(scored.positive)]
        return {PREDICTION: scored.values, PROBABILITY: positive}
    return {PREDICTION: scored.values, PROBABILITY: scored.proba.max(axis=1)}


def drift_column(pipe: Pipeline) -> str:
    """The model output prediction drift is measured on: the positive-class probability for binary
    classifiers (labels hide most movement), the label for multiclass, the value for regression."""
    return PROBABILITY if pipe.config.model.task == "binary_classification" else PREDICTION


def drift_output(pipe: Pipeline, outputs: dict[str, Any]) -> Any:
    return outputs[drift_column(pipe)]
