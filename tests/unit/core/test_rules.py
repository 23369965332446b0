"""The structured rule evaluator, the fallback model and the champion health check (pure, no MLflow)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlcycle.core.fallback import FallbackModel, champion_problem, fit_fallback
from mlcycle.core.rules import NO_RULE, apply_rules, condition_mask, first_match
from mlcycle.errors import TrainingError
from tests.unit.conftest import PipelineFactory

FRAME = pd.DataFrame(
    {
        "amount": [-5.0, 0.0, 3.0, math.nan, 10.0],
        "plan": ["basic", "premium", None, "basic", "standard"],
    }
)

BASE = """
data:
  source: data/x.csv
  target: y
  features: {numeric: [amount], categorical: [plan]}
model:
  task: %s
  estimator: %s
evaluation:
  primary_metric: %s
"""
CLASSIFIER = BASE % ("binary_classification", "LogisticRegression", "roc_auc")
REGRESSOR = BASE % ("regression", "Ridge", "rmse")


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("lt", 0, [True, False, False, False, False]),
        ("le", 0, [True, True, False, False, False]),
        ("gt", 3, [False, False, False, False, True]),
        ("ge", 3, [False, False, True, False, True]),
        ("eq", 0, [False, True, False, False, False]),
        ("ne", 0, [True, False, True, False, True]),  # null fails ne too
        ("in", [3, 10], [False, False, True, False, True]),
        ("is_null", None, [False, False, False, True, False]),
    ],
)
def test_numeric_conditions_and_nulls(op: str, value: object, expected: list[bool]) -> None:
    assert condition_mask(FRAME, {"column": "amount", "op": op, "value": value}).tolist() == expected


def test_categorical_conditions() -> None:
    assert condition_mask(FRAME, {"column": "plan", "op": "eq", "value": "basic"}).tolist() == [
        True,
        False,
        False,
        True,
        False,
    ]
    assert condition_mask(FRAME, {"column": "plan", "op": "ne", "value": "basic"}).tolist() == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert condition_mask(
        FRAME, {"column": "plan", "op": "in", "value": ["premium", "standard"]}
    ).tolist() == [False, True, False, False, True]
    assert condition_mask(FRAME, {"column": "plan", "op": "is_null"}).tolist() == [
        False,
        False,
        True,
        False,
        False,
    ]


def test_first_matching_rule_wins_and_all_conditions_must_hold() -> None:
    rules = [
        {
            "name": "neg_basic",
            "when": [
                {"column": "amount", "op": "lt", "value": 0},
                {"column": "plan", "op": "eq", "value": "basic"},
            ],
            "then": "review",
        },
        {"name": "basic", "when": [{"column": "plan", "op": "eq", "value": "basic"}], "then": "basic_rule"},
        {"name": "big", "when": [{"column": "amount", "op": "ge", "value": 0}], "then": 9},
    ]
    assert first_match(FRAME, rules).tolist() == [0, 2, 2, 1, 2]
    final, fired = apply_rules(FRAME, np.array([0, 1, 0, 1, 0]), rules[:2])
    assert final.tolist() == ["review", "1", "0", "basic_rule", "0"]  # mixed labels become strings
    assert fired.tolist() == ["neg_basic", None, None, "basic", None]
    unchanged, none = apply_rules(FRAME, np.array([0, 1, 0, 1, 0]), [])
    assert unchanged.tolist() == [0, 1, 0, 1, 0] and none.isna().all()
    assert first_match(FRAME, []).tolist() == [NO_RULE] * 5


def test_regression_overrides_stay_numeric() -> None:
    rules = [{"name": "floor", "when": [{"column": "amount", "op": "lt", "value": 0}], "then": 0}]
    final, _ = apply_rules(FRAME, np.array([1.5, 2.5, 3.5, 4.5, 5.5]), rules)
    assert final.dtype == "float64" and final.tolist() == [0.0, 2.5, 3.5, 4.5, 5.5]


def test_majority_fallback_fitted_on_training_labels(make_pipeline: PipelineFactory) -> None:
    pipe = make_pipeline(CLASSIFIER)
    spec = fit_fallback(pipe, pd.Series(np.array([0, 1, 1, 1], dtype="int64")))
    assert spec["kind"] == "majority" and spec["prediction"] == 1 and spec["classes"] == [0, 1]
    model = FallbackModel(spec)
    assert model.predict(FRAME).tolist() == [1] * 5
    assert model.predict_proba(FRAME)[0].tolist() == [0.25, 0.75]
    assert model.classes_.tolist() == [0, 1]


def test_mean_and_rules_fallbacks(make_pipeline: PipelineFactory) -> None:
    mean = fit_fallback(make_pipeline(REGRESSOR), pd.Series([1.0, 2.0, 6.0]))
    assert FallbackModel(mean).predict(FRAME).tolist() == [3.0] * 5
    rules = (
        CLASSIFIER
        + """
fallback:
  kind: rules
  rules:
    - when: [{column: amount, op: lt, value: 0}]
      then: 1
  default: 0
"""
    )
    spec = fit_fallback(make_pipeline(rules), pd.Series([0, 1, 0]))
    model = FallbackModel(spec)
    assert model.predict(FRAME).tolist() == [1, 0, 0, 0, 0]
    assert model.predict_proba(FRAME)[:, 1].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    with pytest.raises(TrainingError, match=r"fallback.rules.0.then: 1 is not a label of 'y'"):
        fit_fallback(make_pipeline(rules), pd.Series([0, 2, 0]))


def test_champion_health_check() -> None:
    ok = {"prediction": np.array([0, 1]), "probability": np.array([0.2, 0.9])}
    assert champion_problem("binary_classification", ok, 2, [0, 1]) is None
    assert "returned 2 predictions for 3 rows" in str(
        champion_problem("binary_classification", ok, 3, [0, 1])
    )
    nan = {"prediction": np.array([0, 1]), "probability": np.array([math.nan, 1.5])}
    assert "2 of 2 probabilities" in str(champion_problem("binary_classification", nan, 2, [0, 1]))
    alien = {"prediction": np.array([0, 7]), "probability": np.array([0.1, 0.9])}
    assert "outside the training label set" in str(
        champion_problem("binary_classification", alien, 2, [0, 1])
    )
    inf = {"prediction": np.array([1.0, math.inf])}
    assert "1 of 2 predictions are not finite" in str(champion_problem("regression", inf, 2, None))
