"""What `mlcycle run`/`monitor` print: quality for every task type, an action column that says what
happened, a failed run's error, verdict names it does not know shown as they are."""

from __future__ import annotations

from typing import Any

import pytest

from mlcycle.core.summaries import RunSummary, WindowSummary, action_cell, quality_cell, render_windows


@pytest.mark.parametrize(
    ("metrics", "primary", "shown"),
    [
        ({"rmse": 12.3456, "mae": 8.5, "r2": 0.4}, "rmse", "rmse=12.346, mae=8.500"),
        ({"rmse": 3.0, "mae": 2.0}, "mae", "rmse=3.000, mae=2.000"),
        ({"roc_auc": 0.81234, "f1": 0.5}, "roc_auc", "roc_auc=0.812"),
        ({"roc_auc": 0.8, "f1": 0.52}, "f1", "f1=0.520"),
        ({"f1": None}, "f1", "-"),
        ({}, "roc_auc", "-"),
    ],
)
def test_quality_cell_for_every_task_type(metrics: dict[str, Any], primary: str, shown: str) -> None:
    assert quality_cell(metrics, primary) == shown


@pytest.mark.parametrize(
    ("act", "cell"),
    [
        ({}, "-"),
        ({"alert": False, "retrain": False, "note": "-"}, "-"),
        ({"alert": True, "retrain": False, "note": "retrain disabled"}, "alert sent / retrain disabled"),
        (
            {
                "alert": True,
                "alert_failures": {"slack": "x", "email": "y"},
                "note": "cooldown until 2026-03-03",
            },
            "alert NOT sent (email, slack failed) / cooldown until 2026-03-03",
        ),
        (
            {"alert": False, "retrain": False, "note": "1 drifted, 2 of 3 needed"},
            "no alert / 1 drifted, 2 of 3 needed",
        ),
        ({"alert": True, "retrain": True, "note": "retrain"}, "alert sent / retrain"),
        ({"alert": True, "retrain": False}, "alert sent / -"),  # a record written before notes existed
    ],
)
def test_action_cell_says_what_happened(act: dict[str, Any], cell: str) -> None:
    assert action_cell(act, None) == cell


def _window(status: str, **records: Any) -> WindowSummary:
    return WindowSummary(
        dag_id="p__monitor",
        run_id="r1",
        state="success",
        task_states={},
        records={
            "window": {
                "window_start": "2026-01-01T00:00:00+00:00",
                "window_end": "2026-02-01T00:00:00+00:00",
            },
            "decision": {"status": status},
            **records,
        },
        primary_metric="rmse",
    )


def test_window_table_shows_regression_quality_and_unknown_verdicts_as_they_are() -> None:
    w = _window(
        "at_risk",
        score={"quality": {"metrics": {"rmse": 4.0, "mae": 3.0}}},
        action={"alert": True, "retrain": False, "note": "retrain disabled"},
    )
    table = render_windows([w])
    assert "rmse=4.000, mae=3.000" in table
    assert "at_risk" in table
    assert "alert sent / retrain disabled" in table
    assert "guarded" not in table


def test_failed_run_names_the_task_and_its_error_and_no_artifacts_path() -> None:
    s = RunSummary(
        pipeline="p",
        dag_id="p__train",
        run_id="r1",
        state="failed",
        task_states={"ingest": "failed", "check_data": "upstream_failed"},
        errors={
            "ingest": "DataSourceError: data.source: missing/*.parquet matches no files\nfix: point it at data"
        },
        artifact_root="/nowhere",
    )
    text = s.render()
    assert "FAILED task ingest:" in text
    assert "    DataSourceError: data.source: missing/*.parquet matches no files" in text
    assert "    fix: point it at data" in text
    assert "/nowhere" not in text and "artifacts: none published" in text


def test_failed_task_without_a_captured_error_is_still_named() -> None:
    s = RunSummary("p", "p__train", "r1", "failed", {"train": "failed"})
    assert "FAILED task train:\n    no error captured: see the Airflow log" in s.render()
