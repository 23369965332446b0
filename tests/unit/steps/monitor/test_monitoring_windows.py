"""Monitoring windows: partitioned sources expand to the days a window covers; window keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mlcycle.adapters.store import LocalArtifactStore
from mlcycle.config.loader import Pipeline
from mlcycle.errors import DataSourceError
from mlcycle.steps.context import Env, RunContext
from mlcycle.steps.monitor.window import EmptyWindowError, expand_source, load_window, window_key


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_plain_source_is_not_expanded() -> None:
    assert expand_source("data/live/*.parquet", _utc(2026, 1, 1), _utc(2026, 2, 1)) == ["data/live/*.parquet"]


def test_daily_partitions_cover_the_window_end_exclusive() -> None:
    out = expand_source("s3://b/preds/dt={date:%Y-%m-%d}/", _utc(2026, 1, 30), _utc(2026, 2, 2))
    assert out == [
        "s3://b/preds/dt=2026-01-30/",
        "s3://b/preds/dt=2026-01-31/",
        "s3://b/preds/dt=2026-02-01/",
    ]


def test_monthly_partitions_are_listed_once_each() -> None:
    out = expand_source("live/{date:%Y/%m}/*.csv", _utc(2026, 1, 15), _utc(2026, 3, 1))
    assert out == ["live/2026/01/*.csv", "live/2026/02/*.csv"]


def test_an_hourly_window_reads_its_day() -> None:
    assert expand_source("p/{date:%Y%m%d}", _utc(2026, 1, 5, 13), _utc(2026, 1, 5, 14)) == ["p/20260105"]


def test_unknown_template_field_names_the_key_and_the_fix() -> None:
    with pytest.raises(
        DataSourceError, match=r"monitoring.source .*only the field \{date:<strftime format>\}"
    ):
        expand_source("p/{day}/x.csv", _utc(2026, 1, 1), _utc(2026, 1, 2))


def test_window_key_is_utc_and_sortable() -> None:
    assert window_key(_utc(2026, 1, 1), _utc(2026, 2, 1)) == "20260101T000000Z-20260201T000000Z"


def _env(pipe: Pipeline, tmp_path: Path) -> Env:
    from mlcycle.config.settings import load_settings

    ctx = RunContext("p__monitor", "manual__x", "2026-02-01T00:00:00+00:00")
    return Env(pipe, load_settings(), LocalArtifactStore(tmp_path / "artifacts"), ctx)


def test_partitioned_window_reads_only_its_days_and_skips_missing_ones(
    demo_pipeline: Pipeline, churn_frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(tmp_path))
    frame = churn_frame.copy()
    days = ["2026-01-01", "2026-01-02", "2026-01-04"]  # 2026-01-03 never landed
    for i, day in enumerate(days):
        part = frame.iloc[i * 200 : (i + 1) * 200].assign(event_time=pd.Timestamp(day, tz="UTC"))
        (tmp_path / "live" / f"dt={day}").mkdir(parents=True)
        part.to_parquet(tmp_path / "live" / f"dt={day}" / "part.parquet")
    mon = demo_pipeline.config.monitoring.model_copy(
        update={"source": "live/dt={date:%Y-%m-%d}/*.parquet", "min_rows": 100}
    )
    pipe = demo_pipeline.model_copy(
        update={"config": demo_pipeline.config.model_copy(update={"monitoring": mon})}
    )
    record = load_window(_env(pipe, tmp_path), _utc(2026, 1, 2), _utc(2026, 1, 5)).to_xcom()
    assert record["rows"] == 400 and record["source_files"] == 2
    assert record["has_labels"] is True  # churned is in the files

    with pytest.raises(EmptyWindowError, match=r"0 row\(s\) in the window .*monitoring.min_rows \(100\)"):
        load_window(_env(pipe, tmp_path), _utc(2026, 1, 3), _utc(2026, 1, 4))


def test_a_missing_unpartitioned_source_names_the_monitoring_key(
    demo_pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(tmp_path))
    mon = demo_pipeline.config.monitoring.model_copy(update={"source": "nowhere/*.parquet"})
    pipe = demo_pipeline.model_copy(
        update={"config": demo_pipeline.config.model_copy(update={"monitoring": mon})}
    )
    with pytest.raises(
        DataSourceError, match=r"nowhere/\*\.parquet: matches no data files \(monitoring.source\)"
    ):
        load_window(_env(pipe, tmp_path), _utc(2026, 1, 1), _utc(2026, 2, 1))


def test_labels_the_champion_never_saw_are_refused_with_their_counts(demo_pipeline) -> None:
    from sklearn.dummy import DummyClassifier

    from mlcycle.core.scoring import UnseenLabelError, check_known_labels

    model = DummyClassifier().fit([[0], [1], [2]], [0, 1, 1])
    check_known_labels(demo_pipeline, model, pd.Series([0, 1, 1.0], name="churned"), "3")
    with pytest.raises(UnseenLabelError) as info:
        check_known_labels(demo_pipeline, model, pd.Series([0, 2, 2, "yes"], name="churned"), "3")
    msg = str(info.value)
    assert "label column 'churned' has 3 row(s)" in msg and "champion v3" in msg
    assert "{2: 2, 'yes': 1}" in msg and "known: [0, 1]" in msg
