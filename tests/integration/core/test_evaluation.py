"""Per-slice metrics of the real demo model (a HistGradientBoosting fit on 1500 demo rows).

The metric functions on small hand-checked fits: tests/unit/core/test_evaluation.py.
"""

from __future__ import annotations

import pandas as pd

from mlcycle.config.catalogs import CLASSIFICATION_METRICS
from mlcycle.config.loader import Pipeline
from mlcycle.core.features import feature_frame
from mlcycle.core.metrics import predict_rows, slice_metrics
from mlcycle.steps.train import build_pipeline


def test_slice_metrics_of_the_demo_model(demo_pipeline: Pipeline, churn_frame: pd.DataFrame) -> None:
    frame = churn_frame.iloc[:1500].reset_index(drop=True)
    X = feature_frame(demo_pipeline, frame)
    y = frame["churned"]
    model = build_pipeline(demo_pipeline).fit(X, y)
    rows = slice_metrics(demo_pipeline, predict_rows(demo_pipeline, model, X), y, frame)
    assert {r["column"] for r in rows} == {"plan", "region"}
    counts = frame["plan"].value_counts()
    for row in rows:
        if row["column"] == "plan":
            assert row["rows"] == counts[row["value"]]
        assert ("metrics" in row) == (row["rows"] >= 50)
        if "metrics" in row:
            assert set(row["metrics"]) == set(CLASSIFICATION_METRICS)
    assert sum(r["rows"] for r in rows if r["column"] == "region") == 1500
