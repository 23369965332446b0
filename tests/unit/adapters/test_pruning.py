"""Pruning: files dated outside the run's window, by path or by Parquet statistics, are never opened.

S3 sources on a real moto server: tests/services/adapters/test_pruning_s3.py.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcycle.adapters.pruning import overlaps, parquet_time_range, path_period
from mlcycle.adapters.sources import SourceSpec, read_source
from mlcycle.errors import DataSourceError
from mlcycle.steps.ingest import ingest_snapshot
from tests.unit.conftest import PipelineFactory


def utc(year: int, month: int, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --------------------------------------------------------------------------- path_period


@pytest.mark.parametrize(
    ("path", "pattern", "period"),
    [
        ("lake/churn_2025.parquet", "churn_%Y", (utc(2025, 1, 1), utc(2026, 1, 1))),
        ("lake/churn_2025-02.parquet", "churn_%Y-%m", (utc(2025, 2, 1), utc(2025, 3, 1))),
        ("lake/churn_2025-12.parquet", "churn_%Y-%m", (utc(2025, 12, 1), utc(2026, 1, 1))),
        ("lake/dt=2024-02-29/part-0.parquet", "dt=%Y-%m-%d", (utc(2024, 2, 29), utc(2024, 3, 1))),
        ("lake/2024/060/x.csv", "%Y/%j", (utc(2024, 2, 29), utc(2024, 3, 1))),
        ("lake/dt=2025-01-31/h=23/p.csv", "dt=%Y-%m-%d/h=%H", (utc(2025, 1, 31, 23), utc(2025, 2, 1))),
        ("s3://b/events/2025/03/07/p.parquet", "%Y/%m/%d", (utc(2025, 3, 7), utc(2025, 3, 8))),
        ("lake/p_2025_50%.csv", "p_%Y_50%%", (utc(2025, 1, 1), utc(2026, 1, 1))),
        ("lake/2025-07/x.csv", "%Y-%d", (utc(2025, 1, 1), utc(2026, 1, 1))),  # %d without %m: the year
    ],
)
def test_the_finest_field_sets_the_period(path: str, pattern: str, period: tuple[datetime, datetime]) -> None:
    assert path_period(path, pattern) == period


def test_the_last_match_in_the_path_dates_the_file() -> None:
    # the directory names a year of its own: the file's name is what dates its rows
    assert path_period("/lake/2024/backfill/churn_2025-01.parquet", "%Y") == (
        utc(2025, 1, 1),
        utc(2026, 1, 1),
    )
    assert path_period("/lake/churn_2024-06/churn_2025-01.parquet", "churn_%Y-%m") == (
        utc(2025, 1, 1),
        utc(2025, 2, 1),
    )


def test_no_match_means_the_file_is_read() -> None:
    assert path_period("lake/churn_latest.parquet", "churn_%Y-%m") is None
    assert path_period("lake/churn_2025.parquet", "churn_%Y-%m") is None
    # a field at the pattern's edge does not cut a longer number: 202401 is not the year 2401
    assert path_period("lake/x_202401.parquet", "%Y") is None


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("churn_2025-13.parquet", "churn_%Y-%m"),
        ("churn_2025-00.parquet", "churn_%Y-%m"),
        ("dt=2025-02-30/p.csv", "dt=%Y-%m-%d"),
        ("2023/366/p.csv", "%Y/%j"),
        ("dt=2025-01-01/h=24/p.csv", "dt=%Y-%m-%d/h=%H"),
        ("2025/03/2025-04-01.csv", "%Y/%m/%Y-%m-%d"),  # a repeated field that disagrees with itself
    ],
)
def test_a_match_that_is_no_date_means_the_file_is_read(path: str, pattern: str) -> None:
    assert path_period(path, pattern) is None


def test_an_unsupported_pattern_names_the_key_and_the_fix() -> None:
    with pytest.raises(DataSourceError, match=r"data\.window\.path_date 'churn_%b': .*%b.*not supported"):
        path_period("churn_Jan.csv", "churn_%b")


# --------------------------------------------------------------------------- overlaps


def test_overlaps_of_a_half_open_period() -> None:
    jan = (utc(2025, 1, 1), utc(2025, 2, 1))
    assert overlaps(jan, utc(2025, 1, 31, 23), utc(2025, 3, 1))
    assert not overlaps(jan, utc(2025, 2, 1), utc(2025, 3, 1))  # the period ends where the window starts
    assert not overlaps(jan, utc(2024, 12, 1), utc(2025, 1, 1))  # the window ends where the period starts
    assert overlaps(jan, None, utc(2025, 1, 1, 0, 0, 1))  # no start: unbounded
    assert not overlaps(jan, None, utc(2025, 1, 1))


def test_overlaps_of_a_statistics_range_whose_max_is_a_row() -> None:
    start, end = utc(2025, 2, 1), utc(2025, 3, 1)
    assert overlaps((utc(2025, 1, 5), start), start, end, max_inclusive=True)  # max == start: a window row
    assert not overlaps((utc(2025, 1, 5), start - timedelta(microseconds=1)), start, end, max_inclusive=True)
    assert not overlaps((end, utc(2025, 3, 9)), start, end, max_inclusive=True)  # min == end: none
    assert overlaps((start, start), start, end, max_inclusive=True)  # min == start: in


# --------------------------------------------------------------------------- parquet_time_range


def _write(path: Path, times: list[datetime], type_: pa.DataType, **kwargs: Any) -> Path:
    table = pa.table({"ts": pa.array(times, type_), "x": list(range(len(times)))})
    pq.write_table(table, path, row_group_size=2, **kwargs)
    return path


def test_statistics_range_spans_every_row_group(tmp_path: Path) -> None:
    times = [datetime(2025, 1, 9), datetime(2025, 1, 3), datetime(2025, 2, 1, 7), datetime(2025, 1, 20)]
    path = _write(tmp_path / "p.parquet", times, pa.timestamp("us", tz="UTC"))
    assert pq.ParquetFile(path).metadata.num_row_groups == 2
    assert parquet_time_range(str(path), "ts") == (utc(2025, 1, 3), utc(2025, 2, 1, 7))


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
def test_statistics_range_is_utc_for_every_unit_naive_or_aware(
    tmp_path: Path, unit: str, tz: str | None
) -> None:
    # naive values are UTC (as ingest reads them); aware ones are instants, whatever their zone
    naive = [datetime(2025, 1, 3, 4, 5, 6), datetime(2025, 1, 9, 23, 59, 59)]
    times = naive if tz is None else [t.replace(tzinfo=UTC) for t in naive]
    path = _write(tmp_path / "p.parquet", times, pa.timestamp(unit, tz=tz))
    assert parquet_time_range(str(path), "ts") == (utc(2025, 1, 3, 4, 5, 6), utc(2025, 1, 9, 23, 59, 59))


def test_nanoseconds_are_floored_to_microseconds(tmp_path: Path) -> None:
    raw = [1_735_689_600_000_000_999, 1_735_689_600_000_001_500]  # 2025-01-01 + 999 ns, + 1.5 us
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"ts": pa.array(raw, pa.timestamp("ns"))}), path)
    start = utc(2025, 1, 1)
    assert parquet_time_range(str(path), "ts") == (start, start + timedelta(microseconds=1))


def test_no_usable_statistics_means_the_file_is_read(tmp_path: Path) -> None:
    times = [datetime(2025, 1, 3), datetime(2025, 1, 9), datetime(2025, 1, 10)]
    no_stats = _write(tmp_path / "nostats.parquet", times, pa.timestamp("us"), write_statistics=False)
    assert parquet_time_range(str(no_stats), "ts") is None
    text = tmp_path / "text.parquet"
    pq.write_table(pa.table({"ts": ["2025-01-03", "2025-01-09"]}), text)
    assert parquet_time_range(str(text), "ts") is None  # a string column: only reading can tell
    assert parquet_time_range(str(no_stats), "missing") is None
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"ts": pa.array([None, None], pa.timestamp("us"))}), nulls)
    assert parquet_time_range(str(nulls), "ts") is None
    int96 = _write(
        tmp_path / "int96.parquet", times, pa.timestamp("ns"), use_deprecated_int96_timestamps=True
    )
    assert parquet_time_range(str(int96), "ts") is None
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    assert parquet_time_range(str(garbage), "ts") is None


# --------------------------------------------------------------------------- read_source


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data_root"
    (root / "landing").mkdir(parents=True)
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(root))
    monkeypatch.delenv("MLCYCLE_ALLOWED_SOURCES", raising=False)
    return root


MONTHS = [(2024, m) for m in range(1, 13)] + [(2025, m) for m in range(1, 7)]
WINDOW = (utc(2025, 2, 1), utc(2025, 4, 1))  # February and March 2025


def _month_file(root: Path, year: int, month: int, *, statistics: bool = True) -> Path:
    """Ten rows, every third day of the month from the 1st to the 28th; ids ``YYYYMM00 + i``."""
    times = [datetime(year, month, 1 + 3 * i, 12) for i in range(10)]
    ids = [year * 10000 + month * 100 + i for i in range(10)]
    table = pa.table({"ts": pa.array(times, pa.timestamp("ms")), "id": ids, "x": [0.5] * 10, "y": [0, 1] * 5})
    path = root / "landing" / f"churn_{year}-{month:02d}.parquet"
    pq.write_table(table, path, row_group_size=5, write_statistics=statistics)
    return path


def _in_window(year: int, month: int) -> bool:
    return WINDOW[0] <= utc(year, month, 1) < WINDOW[1]


def test_path_date_skips_files_outside_the_window_unopened(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for year, month in MONTHS:
        if _in_window(year, month):
            _month_file(root, year, month, statistics=False)  # only the path can date these
        else:  # opening any of these fails the read
            (root / "landing" / f"churn_{year}-{month:02d}.parquet").write_bytes(b"\x00garbage\xff" * 40)
    spec = SourceSpec(
        "landing/*.parquet", "auto", ["id", "ts"], timestamp_column="ts", path_date="churn_%Y-%m"
    )
    digests: dict[str, str] = {}
    pruned: list[str] = []
    with caplog.at_level(logging.INFO, logger="mlcycle.adapters.sources"):
        table, files = read_source(spec, *WINDOW, digests=digests, pruned=pruned)
    assert table is not None and files == len(MONTHS)
    assert sorted({i // 100 for i in table["id"].to_pylist()}) == [202502, 202503]
    assert table.num_rows == 20
    outside = {
        str(root / "landing" / f"churn_{y}-{m:02d}.parquet") for y, m in MONTHS if not _in_window(y, m)
    }
    assert set(pruned) == outside and len(pruned) == len(MONTHS) - 2
    assert set(digests) == {str(root / "landing" / f"churn_2025-0{m}.parquet") for m in (2, 3)}
    assert (
        "read 2 of 18 file(s); 16 skipped (outside the window: 16 by path date, 0 by Parquet statistics)"
        in (caplog.text)
    )


def test_parquet_statistics_skip_files_outside_the_window(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for year, month in MONTHS:
        _month_file(root, year, month)
    (root / "landing" / "churn_2024-01.parquet").rename(root / "landing" / "backfill.parquet")
    spec = SourceSpec("landing/*.parquet", "auto", ["id", "ts"], timestamp_column="ts")
    digests: dict[str, str] = {}
    pruned: list[str] = []
    with caplog.at_level(logging.INFO, logger="mlcycle.adapters.sources"):
        table, files = read_source(spec, *WINDOW, digests=digests, pruned=pruned)
    assert table is not None and files == len(MONTHS) and table.num_rows == 20
    read = {str(root / "landing" / f"churn_2025-0{m}.parquet") for m in (2, 3)}
    assert set(digests) == read
    assert len(pruned) == len(MONTHS) - 2 and not set(pruned) & set(digests)
    assert str(root / "landing" / "backfill.parquet") in pruned  # its name needs no date
    assert "16 skipped (outside the window: 0 by path date, 16 by Parquet statistics)" in caplog.text


def test_nothing_is_pruned_without_a_timestamp_column_or_when_every_file_may_hold_rows(root: Path) -> None:
    for year, month in MONTHS[:3]:
        _month_file(root, year, month)
    pruned: list[str] = []
    spec = SourceSpec("landing/*.parquet", "auto", ["id"], path_date="churn_%Y-%m")  # no timestamp column
    table, files = read_source(spec, *WINDOW, pruned=pruned)
    assert table is not None and table.num_rows == 30 and files == 3 and pruned == []
    spec = SourceSpec(
        "landing/*.parquet", "auto", ["id", "ts"], timestamp_column="ts", path_date="churn_%Y-%m"
    )
    table, files = read_source(spec, None, utc(2024, 4, 1), pruned=pruned)
    assert table is not None and table.num_rows == 30 and pruned == []


def test_ingest_prunes_by_the_configured_path_date(
    root: Path, make_pipeline: PipelineFactory, tmp_path: Path
) -> None:
    from mlcycle.adapters.store import LocalArtifactStore

    for year, month in MONTHS:
        if year == 2025 and month == 3:
            _month_file(root, year, month)
        else:
            (root / "landing" / f"churn_{year}-{month:02d}.parquet").write_bytes(b"garbage")
    yaml = """
        data:
          source: landing/
          target: y
          id_column: id
          timestamp_column: ts
          features: {numeric: [x]}
          window: {lookback_days: 10, path_date: 'churn_%Y-%m'}
        model: {task: binary_classification, estimator: LogisticRegression}
        evaluation: {primary_metric: roc_auc}
    """
    snap = ingest_snapshot(make_pipeline(yaml), utc(2025, 3, 20), LocalArtifactStore(tmp_path / "artifacts"))
    assert snap.rows == 4 and snap.source_files == len(MONTHS)  # the 10th, 13th, 16th and 19th of March
    assert snap.source_digests is not None
    assert list(snap.source_digests) == [str(root / "landing" / "churn_2025-03.parquet")]
