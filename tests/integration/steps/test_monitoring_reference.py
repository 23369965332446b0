"""The drift reference stored with a model: features on every row, the model's output on a seeded sample."""

from __future__ import annotations

import pandas as pd

from mlcycle.config.loader import Pipeline
from mlcycle.core.drift import column_drift, numeric_profile
from mlcycle.core.features import feature_frame, target_values
from mlcycle.core.scoring import PREDICTION, drift_output, predict
from mlcycle.steps.reference import build_reference
from mlcycle.steps.train import build_pipeline
from tests.unit.conftest import PipelineFactory


def _capped(demo_pipeline: Pipeline, make_pipeline: PipelineFactory, rows: int) -> Pipeline:
    text = demo_pipeline.source_text.replace(
        "    share_threshold: 0.5 ",
        f"    share_threshold: 0.5\n    prediction_reference_rows: {rows}\n"
        "    report_sample_rows: 1001\n    domain_sample_rows: 500\n    ",
    )
    assert f"prediction_reference_rows: {rows}" in text  # the demo YAML still has the anchor line
    return make_pipeline(text, "capped")


def test_prediction_profile_uses_a_sample_and_matches_the_full_pass(
    demo_pipeline: Pipeline, make_pipeline: PipelineFactory, churn_frame: pd.DataFrame
) -> None:
    pipe = _capped(demo_pipeline, make_pipeline, 1500)
    model = build_pipeline(pipe).fit(feature_frame(pipe, churn_frame), target_values(pipe, churn_frame))

    profile, ref_sample = build_reference(pipe, model, churn_frame)

    assert profile["rows"] == len(churn_frame) == 3000  # feature statistics: every row
    assert profile["columns"]["tenure_months"]["rows"] + profile["columns"]["tenure_months"]["nulls"] == 3000
    assert profile["prediction"]["rows"] == 1500  # the model's output: the capped sample
    # the sampled profile tells the same story as scoring every training row
    full = pd.Series(drift_output(pipe, predict(pipe, model, feature_frame(pipe, churn_frame))))
    drift = column_drift(PREDICTION, profile["prediction"], full, None)
    assert not drift.drifted and drift.score is not None and drift.score < 0.05, drift
    assert numeric_profile(full)["rows"] == 3000
    # the stored sample's predictions are the model's own for those rows
    assert len(ref_sample) == 1001
    again = drift_output(pipe, predict(pipe, model, ref_sample.drop(columns=[PREDICTION])))
    assert (abs(ref_sample[PREDICTION].to_numpy() - again) < 1e-12).all()


def test_small_training_sets_score_every_row(demo_pipeline: Pipeline, churn_frame: pd.DataFrame) -> None:
    model = build_pipeline(demo_pipeline).fit(
        feature_frame(demo_pipeline, churn_frame), target_values(demo_pipeline, churn_frame)
    )
    profile, _ = build_reference(demo_pipeline, model, churn_frame)
    assert profile["prediction"]["rows"] == 3000
