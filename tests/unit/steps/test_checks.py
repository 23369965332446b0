"""Data checks: the YAML's expectations run as a real Great Expectations suite."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlcycle.config.loader import Pipeline
from mlcycle.steps.check_data import CheckResult, Failure, run_checks, suite_expectations
from tests.unit.conftest import PipelineFactory

MOSTLY_YAML = """
data:
  source: d.csv
  target: y
  features: {numeric: [x]}
checks:
  min_rows: 1
  expectations:
    - type: expect_column_values_to_not_be_null
      kwargs: {column: x, mostly: 0.95}
model: {task: binary_classification, estimator: LogisticRegression}
evaluation: {primary_metric: roc_auc}
"""


def _failures(result: CheckResult, expectation: str, column: str | None = None) -> list[Failure]:
    return [f for f in result.failures if f.expectation == expectation and f.column == column]


def test_suite_always_starts_with_the_min_row_count(demo_pipeline: Pipeline) -> None:
    exps = suite_expectations(demo_pipeline)
    assert exps[0].type == "expect_table_row_count_to_be_between"
    assert exps[0].kwargs == {"min_value": 1000}
    assert exps[1:] == demo_pipeline.config.checks.expectations


def test_demo_data_passes_the_demo_expectations(demo_pipeline: Pipeline, churn_frame: pd.DataFrame) -> None:
    result, full = run_checks(demo_pipeline, churn_frame.copy())
    assert result.success, result.summary()
    assert result.failures == []
    assert result.evaluated == len(demo_pipeline.config.checks.expectations) + 1
    assert result.rows == 3000
    assert result.summary() == f"{result.evaluated}/{result.evaluated} expectations passed on 3000 rows"
    assert full["success"] is True
    assert len(full["results"]) == result.evaluated
    json.dumps(result.to_dict())
    json.dumps(full)


def test_null_target_fails_naming_column_and_count(
    demo_pipeline: Pipeline, churn_frame: pd.DataFrame
) -> None:
    frame = churn_frame.copy()
    frame["churned"] = frame["churned"].astype("float64")
    frame.loc[[3, 50, 700, 2999], "churned"] = np.nan
    result, full = run_checks(demo_pipeline, frame)
    assert not result.success
    assert full["success"] is False
    (failure,) = _failures(result, "expect_column_values_to_not_be_null", "churned")
    assert failure.unexpected_count == 4
    assert failure.unexpected_percent == pytest.approx(4 / 3000 * 100)
    assert "expect_column_values_to_not_be_null failed on column 'churned'; 4 unexpected values" in (
        result.summary()
    )


def test_sentinel_in_tenure_fails_the_range_check_with_its_count(
    demo_pipeline: Pipeline, churn_frame: pd.DataFrame
) -> None:
    frame = churn_frame.copy()
    rows = [0, 10, 20, 30, 40, 1000, 2000]
    frame.loc[rows, "tenure_months"] = -1
    result, _ = run_checks(demo_pipeline, frame)
    assert not result.success
    assert [f.column for f in result.failures] == ["tenure_months"]
    (failure,) = result.failures
    assert failure.expectation == "expect_column_values_to_be_between"
    assert failure.unexpected_count == len(rows)
    assert failure.examples == [-1] * len(rows)
    assert failure.kwargs["min_value"] == 0 and failure.kwargs["max_value"] == 120
    assert "7 unexpected values" in failure.describe()


def test_empty_frame_fails_on_the_min_row_count(demo_pipeline: Pipeline, churn_frame: pd.DataFrame) -> None:
    result, _ = run_checks(demo_pipeline, churn_frame.iloc[0:0].copy())
    assert not result.success
    assert result.rows == 0
    (failure,) = _failures(result, "expect_table_row_count_to_be_between")
    assert failure.observed_value == 0
    assert failure.kwargs["min_value"] == 1000
    assert "table" in failure.describe()


def test_too_few_rows_fail_even_when_every_row_is_clean(
    demo_pipeline: Pipeline, churn_frame: pd.DataFrame
) -> None:
    result, _ = run_checks(demo_pipeline, churn_frame.iloc[:999].copy())
    assert [f.expectation for f in result.failures] == ["expect_table_row_count_to_be_between"]
    assert result.failures[0].observed_value == 999


def test_missing_column_is_a_failure_not_a_crash(demo_pipeline: Pipeline, churn_frame: pd.DataFrame) -> None:
    result, _ = run_checks(demo_pipeline, churn_frame.drop(columns=["plan"]))
    assert not result.success
    (failure,) = _failures(result, "expect_column_values_to_be_in_set", "plan")
    # GX 1.x reports the cause in exception_info, keyed by metric id; the failure must carry it.
    assert str(failure.observed_value).startswith("error: ")
    assert 'The column "plan" in BatchData does not exist' in failure.describe()


@pytest.mark.parametrize(("nulls", "success"), [(0, True), (5, True), (6, False)])
def test_mostly_boundary(make_pipeline: PipelineFactory, nulls: int, success: bool) -> None:
    # mostly 0.95 on 100 rows: 5 nulls is exactly at the threshold, 6 is just over it.
    pipe = make_pipeline(MOSTLY_YAML)
    x = [float(i) for i in range(100)]
    for i in range(nulls):
        x[i * 10] = np.nan
    frame = pd.DataFrame({"x": x, "y": [0, 1] * 50})
    result, _ = run_checks(pipe, frame)
    assert result.success is success
    if not success:
        (failure,) = result.failures
        assert failure.column == "x"
        assert failure.unexpected_count == nulls
        assert failure.kwargs["mostly"] == 0.95


def test_checks_do_not_modify_the_frame(demo_pipeline: Pipeline, churn_frame: pd.DataFrame) -> None:
    frame = churn_frame.copy()
    frame.loc[[1, 2], "tenure_months"] = -1
    before = frame.copy()
    run_checks(demo_pipeline, frame)
    pd.testing.assert_frame_equal(frame, before)
