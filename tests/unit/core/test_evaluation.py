"""Holdout metrics and per-slice metrics, checked against values worked out by hand.

The slice metrics of the real demo model: tests/integration/core/test_evaluation.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlcycle.config.catalogs import CLASSIFICATION_METRICS, REGRESSION_METRICS
from mlcycle.config.loader import Pipeline
from mlcycle.core.features import feature_frame
from mlcycle.core.metrics import compute_metrics, metric_names, predict_rows, slice_metrics
from mlcycle.steps.train import build_pipeline
from tests.unit.conftest import PipelineFactory

YAML = """
data:
  source: d.csv
  target: y
  features: {{numeric: [x]}}
model:
  task: {task}
  estimator: {estimator}
  params: {params}
evaluation:
  primary_metric: {metric}
  slices: [segment]
  min_slice_size: 30
"""


def _pipe(
    make_pipeline: PipelineFactory, estimator: str, params: str = "{}", task: str | None = None
) -> Pipeline:
    regression = estimator.endswith("Regressor") or estimator in ("Ridge", "LinearRegression")
    task = task or ("regression" if regression else "binary_classification")
    metric = "rmse" if regression else "accuracy"
    return make_pipeline(YAML.format(task=task, estimator=estimator, params=params, metric=metric), name="ev")


def _fit(pipe: Pipeline, x: list[float], y: list[object]) -> tuple[object, pd.DataFrame, pd.Series]:
    frame = pd.DataFrame({"x": x})
    X = feature_frame(pipe, frame)
    target = pd.Series(y, name="y")
    return build_pipeline(pipe).fit(X, target), X, target


def test_perfect_binary_classifier(make_pipeline: PipelineFactory) -> None:
    pipe = _pipe(make_pipeline, "DecisionTreeClassifier")
    x = [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0] * 5
    y = [0, 0, 0, 1, 1, 1] * 5
    model, X, target = _fit(pipe, x, y)
    metrics = compute_metrics(pipe, model, X, target)
    assert list(metrics) == list(CLASSIFICATION_METRICS)
    assert metrics["accuracy"] == metrics["f1"] == metrics["precision"] == metrics["recall"] == 1.0
    assert metrics["roc_auc"] == 1.0
    assert metrics["log_loss"] == pytest.approx(0.0, abs=1e-9)


def test_prior_classifier_metrics_match_hand_computation(make_pipeline: PipelineFactory) -> None:
    pipe = _pipe(make_pipeline, "DummyClassifier", "{strategy: prior}")
    y = [1] * 30 + [0] * 70
    model, X, target = _fit(pipe, [float(i) for i in range(100)], y)
    metrics = compute_metrics(pipe, model, X, target)
    assert metrics["accuracy"] == pytest.approx(0.7)
    assert metrics["precision"] == 0.0  # no positive predictions: zero_division=0, no warning
    assert metrics["recall"] == 0.0
    assert metrics["f1"] == 0.0
    assert metrics["roc_auc"] == pytest.approx(0.5)
    assert metrics["log_loss"] == pytest.approx(-(0.3 * math.log(0.3) + 0.7 * math.log(0.7)))


def test_string_labels_use_the_last_class_as_positive(make_pipeline: PipelineFactory) -> None:
    pipe = _pipe(make_pipeline, "DummyClassifier", "{strategy: most_frequent}")
    y = ["yes"] * 70 + ["no"] * 30
    model, X, target = _fit(pipe, [float(i) for i in range(100)], y)
    metrics = compute_metrics(pipe, model, X, target)
    # Always predicts "yes": precision 0.7, recall 1.0 for the positive class "yes".
    assert metrics["precision"] == pytest.approx(0.7)
    assert metrics["recall"] == pytest.approx(1.0)
    assert metrics["f1"] == pytest.approx(2 * 0.7 / 1.7)
    assert metrics["accuracy"] == pytest.approx(0.7)


def test_single_class_holdout_has_no_ranking_metrics(make_pipeline: PipelineFactory) -> None:
    pipe = _pipe(make_pipeline, "DecisionTreeClassifier")
    model, _, _ = _fit(pipe, [-1.0, -2.0, 1.0, 2.0], [0, 0, 1, 1])
    X = feature_frame(pipe, pd.DataFrame({"x": [1.5, 2.5, 3.5]}))
    metrics = compute_metrics(pipe, model, X, pd.Series([1, 1, 1]))
    assert metrics["roc_auc"] is None
    assert metrics["log_loss"] is None
    assert metrics["accuracy"] == 1.0
    assert metrics["recall"] == 1.0


def test_multiclass_metrics(make_pipeline: PipelineFactory) -> None:
    pipe = _pipe(make_pipeline, "DecisionTreeClassifier", task="multiclass_classification")
    x = [float(v) for v in range(30)]
    y = ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    model, X, target = _fit(pipe, x, y)
    metrics = compute_metrics(pipe, model, X, target)
    assert metrics["accuracy"] == 1.0
    assert metrics["f1"] == 1.0
    assert metrics["roc_auc"] == 1.0


@pytest.mark.parametrize("task", ["binary_classification", "multiclass_classification"])
def test_f1_precision_recall_equal_sklearns_own_scorers(make_pipeline: PipelineFactory, task: str) -> None:
    """One precision_recall_fscore_support pass gives what f1_score, precision_score and recall_score do."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    pipe = _pipe(make_pipeline, "DecisionTreeClassifier", "{max_depth: 2}", task=task)
    rng = np.random.default_rng(7)
    x = rng.normal(size=300).tolist()
    labels = ["lo", "hi"] if task == "binary_classification" else ["a", "b", "c"]
    y = [labels[int(v > 0) if len(labels) == 2 else int(np.digitize(v, [-0.4, 0.4]))] for v in x]
    y = [lab if rng.random() > 0.25 else labels[rng.integers(len(labels))] for lab in y]  # label noise
    model, X, target = _fit(pipe, x, y)
    metrics = compute_metrics(pipe, model, X, target)
    pred = model.predict(X)
    kwargs = {"average": "binary", "pos_label": "lo"} if len(labels) == 2 else {"average": "macro"}
    assert 0 < metrics["f1"] < 1
    assert metrics["f1"] == f1_score(target, pred, zero_division=0, **kwargs)
    assert metrics["precision"] == precision_score(target, pred, zero_division=0, **kwargs)
    assert metrics["recall"] == recall_score(target, pred, zero_division=0, **kwargs)


def test_regression_metrics_of_an_exact_fit(make_pipeline: PipelineFactory) -> None:
    pipe = _pipe(make_pipeline, "LinearRegression")
    x = [float(v) for v in range(20)]
    model, X, target = _fit(pipe, x, [3 * v + 1 for v in x])
    metrics = compute_metrics(pipe, model, X, target)
    assert list(metrics) == list(REGRESSION_METRICS)
    assert metrics["rmse"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["mae"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["r2"] == pytest.approx(1.0)


def test_regression_metrics_match_hand_computation(make_pipeline: PipelineFactory) -> None:
    pipe = _pipe(make_pipeline, "DummyRegressor", "{strategy: mean}")
    model, X, target = _fit(pipe, [0.0, 1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0, 10.0])
    metrics = compute_metrics(pipe, model, X, target)
    # Predicts the mean 4: residuals -3, -2, -1, 0, 6.
    assert metrics["mae"] == pytest.approx(12 / 5)
    assert metrics["rmse"] == pytest.approx(math.sqrt(50 / 5))
    assert metrics["r2"] == pytest.approx(0.0)


def test_regression_r2_undefined_on_one_row(make_pipeline: PipelineFactory) -> None:
    pipe = _pipe(make_pipeline, "DummyRegressor")
    model, _, _ = _fit(pipe, [0.0, 1.0], [1.0, 3.0])
    X = feature_frame(pipe, pd.DataFrame({"x": [5.0]}))
    metrics = compute_metrics(pipe, model, X, pd.Series([4.0]))
    assert metrics == {"rmse": pytest.approx(2.0), "mae": pytest.approx(2.0), "r2": None}


def test_metric_names_follow_the_task(make_pipeline: PipelineFactory) -> None:
    assert metric_names(_pipe(make_pipeline, "Ridge")) == REGRESSION_METRICS
    assert metric_names(_pipe(make_pipeline, "LogisticRegression")) == CLASSIFICATION_METRICS


def test_slice_metrics_skip_small_slices_and_align_rows(make_pipeline: PipelineFactory) -> None:
    pipe = _pipe(make_pipeline, "DummyClassifier", "{strategy: most_frequent}")
    model, _, _ = _fit(pipe, [0.0, 1.0, 2.0], [0, 0, 1])  # always predicts 0
    # Slice A (40 rows) is all 0: accuracy 1. Slice B (exactly min_slice_size=30) is all 1:
    # accuracy 0. C (29 rows) and the null slice (5 rows) are too small.
    segment = ["A"] * 40 + ["B"] * 30 + ["C"] * 29 + [None] * 5
    y = [0] * 40 + [1] * 30 + [0] * 29 + [1] * 5
    order = np.random.default_rng(3).permutation(len(y))  # interleave the slices
    frame = pd.DataFrame(
        {
            "x": np.arange(len(y), dtype=float),
            "segment": np.array(segment, dtype=object)[order],
            "y": np.array(y)[order],
        },
        index=np.arange(len(y)) + 1000,  # a holdout keeps its original row labels
    )
    X = feature_frame(pipe, frame)
    rows = slice_metrics(pipe, predict_rows(pipe, model, X), frame["y"], frame)
    by_value = {r["value"]: r for r in rows}
    assert [r["value"] for r in rows] == ["<null>", "A", "B", "C"]
    assert all(r["column"] == "segment" for r in rows)
    assert by_value["A"]["rows"] == 40 and by_value["A"]["metrics"]["accuracy"] == 1.0
    assert by_value["B"]["rows"] == 30 and by_value["B"]["metrics"]["accuracy"] == 0.0
    assert by_value["C"] == {"column": "segment", "value": "C", "rows": 29, "skipped": "too small"}
    assert by_value["<null>"] == {"column": "segment", "value": "<null>", "rows": 5, "skipped": "too small"}
    assert "metrics" not in by_value["C"]
