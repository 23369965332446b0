"""The fallback model: a JSON heuristic fitted with each learned model, served when the champion
cannot be loaded or fails its health check.

The spec is plain JSON (never pickle) stored in the training run's artifacts, apart from the
learned model's files, so it stays usable when those are missing or tampered with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlcycle.config.loader import Pipeline
from mlcycle.core.rules import NO_RULE, first_match
from mlcycle.errors import TrainingError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

FALLBACK_FORMAT = "mlcycle.fallback/1"


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can hold."""
    return value.item() if hasattr(value, "item") else value


def fit_fallback(pipe: Pipeline, y_train: pd.Series) -> dict[str, Any]:
    """The fallback spec for this pipeline, fitted on the training split's target."""
    cfg = pipe.config
    kind = cfg.fallback_kind
    spec: dict[str, Any] = {"format": FALLBACK_FORMAT, "kind": kind, "task": cfg.model.task}
    if not cfg.model.is_classification:
        spec["prediction"] = float(y_train.astype("float64").mean())
    else:
        counts = y_train.value_counts().sort_index()
        classes = [_plain(c) for c in counts.index]
        spec["classes"] = classes
        spec["class_prior"] = [float(n) / float(counts.sum()) for n in counts.to_numpy()]
        spec["prediction"] = _plain(counts.idxmax())
    if kind == "rules":
        spec["rules"] = [r.model_dump() for r in cfg.fallback.rules]
        spec["default"] = cfg.fallback.default
        if cfg.model.is_classification:
            thens = [("default", cfg.fallback.default)]
            thens += [(f"rules.{i}.then", r.then) for i, r in enumerate(cfg.fallback.rules)]
            for key, value in thens:
                if value not in spec["classes"]:
                    raise TrainingError(
                        f"{pipe.path}: fallback.{key}: {value!r} is not a label of {cfg.data.target!r} in the "
                        f"training split ({spec['classes']}); predict one of those"
                    )
        spec["prediction"] = cfg.fallback.default
    return spec


class FallbackModel:
    """The spec as a scikit-learn-like model (``predict``, ``predict_proba``, ``classes_``), so the
    scoring and metric code serves it unchanged."""

    def __init__(self, spec: dict[str, Any]) -> None:
        if spec.get("format") != FALLBACK_FORMAT:
            raise ValueError(f"not a fallback spec of format {FALLBACK_FORMAT!r}: {spec.get('format')!r}")
        self.spec = spec
        self.kind: str = spec["kind"]
        if "classes" in spec:
            import numpy as np

            self.classes_ = np.asarray(spec["classes"])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        dtype = self.classes_.dtype if "classes" in self.spec else np.dtype("float64")
        if self.kind != "rules":
            return np.full(len(X), self.spec["prediction"], dtype=dtype)
        thens = np.asarray([r["then"] for r in self.spec["rules"]] + [self.spec["default"]], dtype=dtype)
        matched = first_match(X, self.spec["rules"])
        return thens[np.where(matched == NO_RULE, len(thens) - 1, matched)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The class prior (majority), or all weight on the predicted class (rules)."""
        import numpy as np

        if self.kind == "majority":
            return np.tile(np.asarray(self.spec["class_prior"], dtype="float64"), (len(X), 1))
        labels = self.predict(X)
        return np.stack([labels == c for c in self.spec["classes"]], axis=1).astype("float64")


def champion_problem(
    task: str, outputs: dict[str, Any], rows: int, classes: Sequence[Any] | None
) -> str | None:
    """Why the champion's outputs on the window cannot be served, or None when they can.

    Healthy: one output per row, every value finite, probabilities in [0, 1], and (classifiers) every
    label within the training split's label set.
    """
    import numpy as np
    import pandas as pd

    prediction = np.asarray(outputs["prediction"])
    if len(prediction) != rows:
        return f"returned {len(prediction)} predictions for {rows} rows"
    if task == "regression":
        values = pd.to_numeric(pd.Series(prediction), errors="coerce").to_numpy(dtype="float64")
        bad = int((~np.isfinite(values)).sum())
        return f"{bad} of {rows} predictions are not finite numbers" if bad else None
    proba = np.asarray(outputs.get("probability", np.zeros(rows)), dtype="float64")
    bad = int((~np.isfinite(proba) | (proba < 0) | (proba > 1)).sum())
    if bad:
        return f"{bad} of {rows} probabilities are not finite or outside [0, 1]"
    if classes is not None:
        unknown = sorted({str(v) for v in prediction} - {str(c) for c in classes})
        if unknown:
            return f"predicted labels {unknown[:5]} outside the training label set {list(classes)[:10]}"
    return None
