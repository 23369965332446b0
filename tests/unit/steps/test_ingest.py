"""Ingest: source listing, window filtering, readable errors and content-addressed snapshots.

S3 sources on a real moto server: tests/services/steps/test_ingest_s3.py.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from mlcycle.adapters.sources import list_local, load_snapshot, read_file
from mlcycle.adapters.store import LocalArtifactStore
from mlcycle.config.loader import Pipeline
from mlcycle.core.features import snapshot_columns
from mlcycle.core.names import run_key
from mlcycle.errors import DataSourceError
from mlcycle.steps.ingest import ingest_snapshot, window_bounds
from tests.unit.conftest import PipelineFactory

END = datetime(2025, 3, 1, tzinfo=UTC)
COLUMNS = ["x", "c", "y", "ts", "id"]


def _yaml(source: str, fmt: str = "auto", lookback: int | None = 10, timestamp: bool = True) -> str:
    lines = [
        "data:",
        f"  source: '{source}'",
        f"  format: {fmt}",
        "  target: y",
        "  id_column: id",
        "  features: {numeric: [x], categorical: [c]}",
    ]
    if timestamp:
        lines.append("  timestamp_column: ts")
    if lookback is not None:
        lines.append(f"  window: {{lookback_days: {lookback}}}")
    lines += [
        "model: {task: binary_classification, estimator: LogisticRegression}",
        "evaluation: {primary_metric: roc_auc}",
    ]
    return "\n".join(lines) + "\n"


def _rows(times: list[str], start_id: int = 0) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame(
        {
            "id": range(start_id, start_id + n),
            "ts": times,
            "x": [float(i) for i in range(n)],
            "c": ["a", "b"] * (n // 2) + ["a"] * (n % 2),
            "y": [0, 1] * (n // 2) + [0] * (n % 2),
            "extra": ["ignored"] * n,
        }
    )


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def _write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def _ids(store: LocalArtifactStore, key: str) -> list[int]:
    return sorted(load_snapshot(store, key)["id"].tolist())


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data_root"
    root.mkdir()
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(root))
    return root


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


# --------------------------------------------------------------------------- window


def test_window_bounds_are_utc_and_trail_the_interval_end(make_pipeline: PipelineFactory) -> None:
    pipe = make_pipeline(_yaml("d.csv", lookback=10))
    berlin = timezone(timedelta(hours=1))
    start, end = window_bounds(pipe, datetime(2025, 3, 1, 1, 0, tzinfo=berlin))
    assert end == datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
    assert end.utcoffset() == timedelta(0)
    assert start == datetime(2025, 2, 19, 0, 0, tzinfo=UTC)


def test_window_bounds_without_lookback_is_open_ended(make_pipeline: PipelineFactory) -> None:
    start, end = window_bounds(make_pipeline(_yaml("d.csv", lookback=None)), END)
    assert start is None
    assert end == END


def test_window_keeps_rows_in_start_inclusive_end_exclusive(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    times = [
        "2025-02-18 23:59:59",  # 0: one second before start
        "2025-02-19 00:00:00",  # 1: exactly start -> kept
        "2025-02-25 12:00:00",  # 2: inside
        "2025-02-28 23:59:59",  # 3: one second before end -> kept
        "2025-03-01 00:00:00",  # 4: exactly end -> dropped
        "2025-04-01 00:00:00",  # 5: after
    ]
    _write_csv(data_root / "events.csv", _rows(times))
    snap = ingest_snapshot(make_pipeline(_yaml("events.csv")), END, store)
    assert _ids(store, snap.key) == [1, 2, 3]
    assert snap.rows == 3
    assert snap.window_start == "2025-02-19T00:00:00+00:00"
    assert snap.window_end == "2025-03-01T00:00:00+00:00"
    assert snap.source_files == 1


def test_window_with_subsecond_interval_end_on_second_resolution_data(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    # A manually triggered run ends at "now", with microseconds. The window is
    # [12:00:00.5 - 10 days, 12:00:00.5): the row at 12:00:00 on the end day is inside it,
    # the row at 12:00:00 ten days earlier is before its start.
    times = ["2025-02-19 12:00:00", "2025-02-19 12:00:01", "2025-03-01 12:00:00", "2025-03-01 12:00:01"]
    _write_csv(data_root / "events.csv", _rows(times))
    end = datetime(2025, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    snap = ingest_snapshot(make_pipeline(_yaml("events.csv")), end, store)
    assert _ids(store, snap.key) == [1, 2]


def test_naive_timestamps_are_read_as_utc(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    frame = _rows(["2025-02-28 23:30:00", "2025-03-01 00:00:00", "2025-03-01 00:30:00"])
    frame["ts"] = pd.to_datetime(frame["ts"])  # naive datetime64
    _write_parquet(data_root / "naive.parquet", frame)
    snap = ingest_snapshot(make_pipeline(_yaml("naive.parquet")), END, store)
    assert _ids(store, snap.key) == [0]
    assert snap.columns["ts"] == "timestamp[ns, tz=UTC]"


def test_tz_aware_timestamps_are_compared_as_instants(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    # In Berlin (UTC+1) 00:30 on 1 March is 23:30 UTC on 28 February: inside the window.
    local = ["2025-03-01 00:30:00", "2025-03-01 01:00:00", "2025-02-19 00:59:59", "2025-02-19 01:00:00"]
    frame = _rows(local)
    frame["ts"] = pd.to_datetime(frame["ts"]).dt.tz_localize("Europe/Berlin")
    _write_parquet(data_root / "berlin.parquet", frame)
    snap = ingest_snapshot(make_pipeline(_yaml("berlin.parquet")), END, store)
    assert _ids(store, snap.key) == [0, 3]


def test_interval_end_in_another_zone_is_the_same_instant(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    _write_csv(data_root / "e.csv", _rows(["2025-02-28 23:30:00", "2025-03-01 00:30:00"]))
    pipe = make_pipeline(_yaml("e.csv"))
    plus_two = datetime(2025, 3, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    a = ingest_snapshot(pipe, plus_two, store)
    b = ingest_snapshot(pipe, END, store)
    assert _ids(store, a.key) == [0]
    assert a.sha256 == b.sha256


def test_empty_window_raises_naming_source_and_window(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    _write_csv(data_root / "old.csv", _rows(["2024-01-01 00:00:00", "2024-01-02 00:00:00"]))
    with pytest.raises(DataSourceError) as info:
        ingest_snapshot(make_pipeline(_yaml("old.csv")), END, store)
    msg = str(info.value)
    assert msg.startswith(f"{data_root / 'old.csv'}: no rows in the training window")
    assert "[2025-02-19T00:00:00+00:00, 2025-03-01T00:00:00+00:00)" in msg
    assert "across 1 file(s)" in msg
    assert _all_objects(store) == []


def test_no_timestamp_column_keeps_every_row(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    _write_csv(data_root / "e.csv", _rows(["2020-01-01", "2030-01-01", "not a date"]))
    pipe = make_pipeline(_yaml("e.csv", lookback=None, timestamp=False))
    snap = ingest_snapshot(pipe, END, store)
    assert snap.rows == 3
    assert snap.window_start is None


def test_non_timestamp_column_error_names_file_and_column(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    path = _write_csv(data_root / "e.csv", _rows(["yesterday", "today"]))
    with pytest.raises(DataSourceError) as info:
        ingest_snapshot(make_pipeline(_yaml("e.csv")), END, store)
    assert str(info.value).startswith(f"{path}: column 'ts' (data.timestamp_column) is string")


# --------------------------------------------------------------------------- formats and sources


def test_csv_and_parquet_give_the_same_rows(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    frame = _rows(
        ["2025-02-20 00:00:00", "2025-02-21 00:00:00", "2025-01-01 00:00:00", "2025-02-22 00:00:00"]
    )
    frame["ts"] = pd.to_datetime(frame["ts"])
    _write_csv(data_root / "e.csv", frame)
    _write_parquet(data_root / "e.parquet", frame)
    from_csv = load_snapshot(store, ingest_snapshot(make_pipeline(_yaml("e.csv")), END, store).key)
    from_pq = load_snapshot(store, ingest_snapshot(make_pipeline(_yaml("e.parquet")), END, store).key)
    assert sorted(from_csv.columns) == sorted(COLUMNS)  # 'extra' was never read
    assert from_csv["id"].tolist() == from_pq["id"].tolist() == [0, 1, 3]
    assert from_csv["c"].tolist() == from_pq["c"].tolist()
    assert from_csv["x"].tolist() == from_pq["x"].tolist()
    assert (from_csv["ts"] == from_pq["ts"]).all()


def test_explicit_format_overrides_the_suffix(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    _write_csv(data_root / "events.txt", _rows(["2025-02-20 00:00:00"]))
    snap = ingest_snapshot(make_pipeline(_yaml("events.txt", fmt="csv")), END, store)
    assert snap.rows == 1
    with pytest.raises(DataSourceError, match=r"cannot tell the format from the suffix; set data\.format"):
        ingest_snapshot(make_pipeline(_yaml("events.txt")), END, store)


def test_directory_source_reads_data_files_recursively(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    d = data_root / "events"
    _write_csv(d / "2025-02" / "a.csv", _rows(["2025-02-20 00:00:00"], start_id=0))
    _write_parquet(
        d / "b.parquet", _rows(["2025-02-21 00:00:00"], start_id=10).astype({"ts": "datetime64[ns]"})
    )
    _write_csv(d / "c.csv.gz", _rows(["2025-02-22 00:00:00"], start_id=20))
    (d / "README.md").write_text("not data")
    (d / ".b.parquet.x1y2.partial").write_bytes(b"half written")
    assert [Path(f).name for f in list_local("events")] == ["a.csv", "b.parquet", "c.csv.gz"]
    snap = ingest_snapshot(make_pipeline(_yaml("events")), END, store)
    assert _ids(store, snap.key) == [0, 10, 20]
    assert snap.source_files == 3


def test_glob_source_relative_to_the_data_root(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    _write_csv(data_root / "in" / "part-1.csv", _rows(["2025-02-20 00:00:00"], start_id=0))
    _write_csv(data_root / "in" / "part-2.csv", _rows(["2025-02-21 00:00:00"], start_id=5))
    _write_csv(data_root / "in" / "other.csv", _rows(["2025-02-21 00:00:00"], start_id=99))
    files = list_local("in/part-*.csv")
    assert files == [str(data_root / "in" / "part-1.csv"), str(data_root / "in" / "part-2.csv")]
    snap = ingest_snapshot(make_pipeline(_yaml("in/part-*.csv")), END, store)
    assert _ids(store, snap.key) == [0, 5]


def test_absolute_source_ignores_the_data_root(tmp_path: Path, data_root: Path) -> None:
    path = _write_csv(tmp_path / "elsewhere" / "e.csv", _rows(["2025-02-20 00:00:00"]))
    assert list_local(str(path)) == [str(path)]


def test_missing_source_path_names_it(data_root: Path) -> None:
    with pytest.raises(DataSourceError, match="no such file or directory") as info:
        list_local("nope/events.csv")
    assert str(data_root / "nope" / "events.csv") in str(info.value)


def test_glob_matching_nothing_names_it(data_root: Path) -> None:
    with pytest.raises(DataSourceError, match="matches no data files") as info:
        list_local("in/*.parquet")
    assert str(data_root / "in" / "*.parquet") in str(info.value)


def test_missing_column_error_names_file_and_column(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    path = _write_csv(data_root / "e.csv", _rows(["2025-02-20 00:00:00"]).drop(columns=["c"]))
    with pytest.raises(DataSourceError) as info:
        ingest_snapshot(make_pipeline(_yaml("e.csv")), END, store)
    msg = str(info.value)
    assert msg.startswith(f"{path}: column(s) ['c'] named in the pipeline YAML")
    assert "Rename the column" in msg


def test_renamed_column_gets_a_did_you_mean(tmp_path: Path) -> None:
    path = _write_parquet(tmp_path / "e.parquet", _rows(["2025-02-20"]).rename(columns={"ts": "tss"}))
    with pytest.raises(DataSourceError, match=r"'ts' -> did you mean 'tss'\?"):
        read_file(str(path), "parquet", ["id", "ts"])


def test_numeric_feature_as_text_is_parsed_or_named_with_its_row(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    good = _rows(["2025-02-20 00:00:00", "2025-02-21 00:00:00"]).assign(x=["1.5", "2"])
    _write_parquet(data_root / "t" / "a.parquet", good)
    snap = ingest_snapshot(make_pipeline(_yaml("t/*.parquet")), END, store)
    assert snap.columns["x"] == "double"
    assert load_snapshot(store, snap.key)["x"].tolist() == [1.5, 2.0]

    bad = _write_parquet(data_root / "t" / "b.parquet", good.assign(x=["3", "n/a"]))
    with pytest.raises(DataSourceError) as info:
        ingest_snapshot(make_pipeline(_yaml("t/*.parquet")), END, store)
    msg = str(info.value)
    assert msg.startswith(f"{bad}: column 'x' (data.features.numeric) is string")
    assert "not a number in data row 2" in msg and "data.features.categorical" in msg
    assert "n/a" not in msg  # the row is named; the file's content is never quoted


def test_read_file_missing_parquet_column(tmp_path: Path) -> None:
    path = _write_parquet(tmp_path / "e.parquet", _rows(["2025-02-20"]))
    with pytest.raises(DataSourceError, match=r"column\(s\) \['zz'\]") as info:
        read_file(str(path), "parquet", ["x", "zz"], label="s3://b/e.parquet")
    assert str(info.value).startswith("s3://b/e.parquet: ")


def test_read_file_returns_only_the_requested_columns(tmp_path: Path) -> None:
    path = _write_parquet(tmp_path / "e.parquet", _rows(["2025-02-20", "2025-02-21"]))
    table = read_file(str(path), "parquet", ["id", "x"])
    assert table.column_names == ["id", "x"]
    assert table.num_rows == 2


def test_corrupt_parquet_names_the_file(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    _write_csv(data_root / "events" / "a.csv", _rows(["2025-02-20 00:00:00"]))
    bad = data_root / "events" / "b.parquet"
    bad.write_bytes(b"this is not parquet at all, just bytes" * 10)
    with pytest.raises(DataSourceError) as info:
        ingest_snapshot(make_pipeline(_yaml("events")), END, store)
    msg = str(info.value)
    assert msg.startswith(f"{bad}: not a readable parquet file")
    assert "fix or remove the file" in msg
    assert _all_objects(store) == []


def test_header_only_csv_alone_is_an_empty_window(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    (data_root / "e.csv").write_text("id,ts,x,c,y\n")
    with pytest.raises(DataSourceError, match="no rows in the training window"):
        ingest_snapshot(make_pipeline(_yaml("e.csv")), END, store)


def test_header_only_csv_beside_data_is_skipped(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    (data_root / "in").mkdir()
    (data_root / "in" / "a.csv").write_text("id,ts,x,c,y\n")
    _write_csv(data_root / "in" / "b.csv", _rows(["2025-02-20 00:00:00", "2025-02-21 00:00:00"]))
    snap = ingest_snapshot(make_pipeline(_yaml("in")), END, store)
    assert snap.rows == 2
    assert snap.source_files == 2
    assert snap.columns["x"] == "double"


def test_header_only_csv_without_window_is_empty(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    (data_root / "e.csv").write_text("id,ts,x,c,y\n")
    with pytest.raises(DataSourceError, match=r"no rows in the training window \[-inf, "):
        ingest_snapshot(make_pipeline(_yaml("e.csv", lookback=None, timestamp=False)), END, store)


# --------------------------------------------------------------------------- snapshots


def _all_objects(store: LocalArtifactStore) -> list[str]:
    if not store.root.exists():
        return []
    return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())


def test_snapshot_is_content_addressed(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    _write_csv(
        data_root / "e.csv", _rows(["2025-02-20 00:00:00", "2025-02-21 00:00:00", "2025-02-22 00:00:00"])
    )
    pipe = make_pipeline(_yaml("e.csv"), name="events")
    first = ingest_snapshot(pipe, END, store)
    second = ingest_snapshot(pipe, END, store)
    assert first.key == second.key == f"snapshots/events/{first.sha256}.parquet"
    assert first.sha256 == second.sha256
    assert first.uri == second.uri == store.uri(first.key)
    assert _all_objects(store) == [first.key]
    assert hashlib.sha256(store.read_bytes(first.key)).hexdigest() == first.sha256


def test_different_data_gives_a_different_snapshot(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    pipe = make_pipeline(_yaml("e.csv"), name="events")
    _write_csv(data_root / "e.csv", _rows(["2025-02-20 00:00:00", "2025-02-21 00:00:00"]))
    first = ingest_snapshot(pipe, END, store)
    _write_csv(data_root / "e.csv", _rows(["2025-02-20 00:00:00", "2025-02-21 00:00:01"]))
    second = ingest_snapshot(pipe, END, store)
    assert first.sha256 != second.sha256
    assert _all_objects(store) == sorted([first.key, second.key])


def test_snapshot_record_describes_the_data(
    make_pipeline: PipelineFactory, data_root: Path, store: LocalArtifactStore
) -> None:
    _write_csv(data_root / "e.csv", _rows(["2025-02-20 00:00:00", "2025-02-21 00:00:00"]))
    snap = ingest_snapshot(make_pipeline(_yaml("e.csv")), END, store)
    record = snap.to_xcom()
    assert record["source"] == "e.csv"
    assert record["columns"] == {
        "x": "double",
        "c": "string",
        "y": "int64",
        "ts": "timestamp[us, tz=UTC]",
        "id": "int64",
    }
    frame = load_snapshot(store, snap.key, columns=["id", "y"])
    assert list(frame.columns) == ["id", "y"]


def test_demo_data_ingests_the_trailing_year(
    demo_pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: LocalArtifactStore
) -> None:
    from mlcycle.cli.demo import write_demo_data

    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(tmp_path))
    files = write_demo_data(tmp_path / "data" / "demo" / "churn", rows=3000, seed=7)
    end = datetime(2026, 1, 1, tzinfo=UTC)
    snap = ingest_snapshot(demo_pipeline, end, store)
    frame = load_snapshot(store, snap.key)
    assert snap.source_files == len(files) == 18
    assert frame["event_time"].min() >= pd.Timestamp("2025-01-01", tz="UTC")
    assert frame["event_time"].max() < pd.Timestamp("2026-01-01", tz="UTC")
    assert frame["event_time"].min() >= pd.Timestamp(end - timedelta(days=365))
    assert list(frame.columns) == snapshot_columns(demo_pipeline)
    assert frame["customer_id"].is_unique


def test_run_key_is_storage_safe() -> None:
    assert run_key("manual__2026-01-01T00:00:00+00:00") == "manual__2026-01-01T00_00_00_00_00"
    assert run_key("scheduled/../x") == "scheduled_.._x"
