"""Evidently's drift report (HTML and JSON), rendered on a sample."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.core.safe_html import escape_embedded_json

if TYPE_CHECKING:
    import pandas as pd


def evidently_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    html_path: str,
    threshold: float | None = None,
    share_threshold: float = 0.5,
) -> dict[str, Any]:
    """Evidently's DataDriftPreset (with tests) on the given frames; saves HTML, returns the JSON."""

    os.environ.setdefault("TQDM_DISABLE", "1")  # Evidently's progress bars would flood task logs
    logging.getLogger("evidently").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
        cols = numeric + categorical
        report = Report(
            [DataDriftPreset(columns=cols, drift_share=share_threshold, threshold=threshold)],
            include_tests=True,
        )
        snapshot = report.run(
            Dataset.from_pandas(current[cols], data_definition=definition),
            Dataset.from_pandas(reference[cols], data_definition=definition),
        )
        Path(html_path).write_text(
            escape_embedded_json(snapshot.get_html_str(as_iframe=False)), encoding="utf-8"
        )
        return dict(json.loads(snapshot.json()))


def evidently_verdicts(report: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """Per-column drift verdicts (test status) and the drifted share, as Evidently's report states them."""
    per_column: dict[str, bool] = {}
    for test in report.get("tests", []):
        params = (test.get("metric_config") or {}).get("params") or {}
        if str(params.get("type", "")).endswith("ValueDrift") and params.get("column") in columns:
            per_column[params["column"]] = test.get("status") == "FAIL"
    share: float | None = None
    for metric in report.get("metrics", []):
        value = metric.get("value")
        if str((metric.get("config") or {}).get("type", "")).endswith("DriftedColumnsCount") and isinstance(
            value, dict
        ):
            share = float(value["share"])
    return {"columns": per_column, "share": share}
