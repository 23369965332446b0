"""The labels batch scoring derives are each real model's own (six scikit-learn fits).

The monitoring verdict and guard as pure functions: tests/unit/core/decisions/test_monitor_decisions.py.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "estimator", ["HistGradientBoostingClassifier", "LogisticRegression", "RandomForestClassifier"]
)
@pytest.mark.parametrize("task", ["binary_classification", "multiclass_classification"])
def test_predicted_labels_are_the_models_own(estimator: str, task: str) -> None:
    """monitoring.predict derives labels from one predict_proba pass: they equal model.predict."""
    import numpy as np
    from sklearn import ensemble, linear_model

    from mlcycle.core.scoring import PREDICTION, predict

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] > 0).astype(int) + (task == "multiclass_classification") * (X[:, 1] > 0.5).astype(int)
    model = {
        "HistGradientBoostingClassifier": ensemble.HistGradientBoostingClassifier(max_iter=10),
        "LogisticRegression": linear_model.LogisticRegression(),
        "RandomForestClassifier": ensemble.RandomForestClassifier(n_estimators=5, random_state=0),
    }[estimator].fit(X, np.array(["a", "b", "c"])[y])

    class _Pipe:
        class config:
            class model:
                is_classification = True

    _Pipe.config.model.task = task
    assert np.array_equal(predict(_Pipe, model, X)[PREDICTION], model.predict(X))  # type: ignore[arg-type]
