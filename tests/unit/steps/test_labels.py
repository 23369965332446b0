"""Late labels at training time: the target is optional per file, unlabelled rows are dropped and
counted within checks.max_unlabelled_share, and data.labels fills targets by id (latest arrival wins,
only labels landed before the window's end)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mlcycle.adapters.sources import load_snapshot
from mlcycle.adapters.store import LocalArtifactStore
from mlcycle.core.features import snapshot_columns
from mlcycle.core.summaries import RunSummary
from mlcycle.errors import DataSourceError
from mlcycle.steps.ingest import ingest_snapshot
from mlcycle.steps.labels import fill_from_labels, keep_labelled, read_labels
from tests.unit.conftest import PipelineFactory

END = datetime(2025, 4, 1, tzinfo=UTC)


def _yaml(max_share: float | None = None, labels: str | None = None, path_date: bool = False) -> str:
    lines = [
        "data:",
        "  source: 'zone/*.parquet'",
        "  target: y",
        "  id_column: id",
        "  timestamp_column: ts",
        "  features: {numeric: [x], categorical: [c]}",
    ]
    if path_date:
        lines.append("  window: {path_date: 'm_%Y-%m'}")
    if labels:
        lines.append(f"  labels: {{source: '{labels}', arrived_at_column: at}}")
    if max_share is not None:
        lines.append(f"checks: {{max_unlabelled_share: {max_share}}}")
    lines += [
        "model: {task: binary_classification, estimator: LogisticRegression}",
        "evaluation: {primary_metric: roc_auc}",
    ]
    return "\n".join(lines) + "\n"


def _month(month: str, start_id: int, n: int = 10, labelled: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "id": range(start_id, start_id + n),
            "ts": pd.Timestamp(f"{month}-05", tz="UTC") + pd.to_timedelta(range(n), unit="h"),
            "x": [float(i) for i in range(n)],
            "c": ["a", "b"] * (n // 2),
            "y": [0, 1] * (n // 2),
        }
    )
    return frame if labelled else frame.drop(columns=["y"])


@pytest.fixture
def zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Jan to Mar 2025 labelled, Apr to Jun features only (the landing zone of the issue)."""
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(tmp_path))
    out = tmp_path / "zone"
    out.mkdir()
    for i, month in enumerate(["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]):
        _month(month, 100 * i, labelled=i < 3).to_parquet(out / f"m_{month}.parquet", index=False)
    return tmp_path


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def test_files_without_the_target_outside_the_window_do_not_stop_training(
    make_pipeline: PipelineFactory, zone: Path, store: LocalArtifactStore
) -> None:
    pipe = make_pipeline(_yaml())
    snap = ingest_snapshot(pipe, END, store)
    frame = load_snapshot(store, snap.key)
    assert snap.rows == 30 and snap.unlabelled_dropped == 0
    assert list(frame.columns) == snapshot_columns(pipe)  # the optional target keeps its place


def test_unlabelled_rows_in_the_window_are_dropped_and_counted(
    make_pipeline: PipelineFactory, zone: Path, store: LocalArtifactStore
) -> None:
    snap = ingest_snapshot(make_pipeline(_yaml(max_share=0.5)), datetime(2025, 5, 1, tzinfo=UTC), store)
    assert (snap.rows, snap.unlabelled_dropped) == (30, 10)
    assert load_snapshot(store, snap.key)["y"].notna().all()
    summary = RunSummary("t", "t__train", "r", "success", {}, {"ingest": snap.to_xcom()})
    assert "unlabelled: 10 row(s) dropped" in summary.render()


def test_too_many_unlabelled_rows_fail_naming_the_key(
    make_pipeline: PipelineFactory, zone: Path, store: LocalArtifactStore
) -> None:
    with pytest.raises(DataSourceError) as exc:
        ingest_snapshot(make_pipeline(_yaml()), datetime(2025, 7, 1, tzinfo=UTC), store)
    text = str(exc.value)
    assert "30 of 60 row(s) (50.0%)" in text and "checks.max_unlabelled_share (0.3)" in text
    assert "zone/*.parquet" in text and "data.labels" in text
    assert not store.list_keys("snapshots")  # nothing published


def test_a_window_with_no_target_at_all_names_the_column(
    make_pipeline: PipelineFactory, zone: Path, store: LocalArtifactStore
) -> None:
    # the trailing 60 days before July: only months that landed without the target
    text = _yaml(max_share=1.0).replace("  features:", "  window: {lookback_days: 60}\n  features:")
    with pytest.raises(
        DataSourceError, match=r"no file of the training window has the target column 'y' \(data.target\)"
    ):
        ingest_snapshot(make_pipeline(text), datetime(2025, 7, 1, tzinfo=UTC), store)


def test_late_labels_fill_training_targets_landed_before_the_window_end(
    make_pipeline: PipelineFactory, zone: Path, store: LocalArtifactStore
) -> None:
    labels = zone / "labels"
    labels.mkdir()
    april = _month("2025-04", 300)[["id", "y"]]
    # April's labels land on May 10th; a wrong early label for id 300 is corrected on May 20th
    landed = april.assign(at=pd.Timestamp("2025-05-10", tz="UTC"))
    wrong = pd.DataFrame({"id": [300], "y": [1], "at": [pd.Timestamp("2025-05-01", tz="UTC")]})
    pd.concat([wrong, landed]).to_parquet(labels / "l.parquet", index=False)
    pipe = make_pipeline(_yaml(max_share=0.5, labels="labels/*.parquet"))

    early = ingest_snapshot(pipe, datetime(2025, 5, 5, tzinfo=UTC), store)  # before they landed (one has)
    assert (early.labels_filled, early.unlabelled_dropped) == (1, 9)
    late = ingest_snapshot(pipe, datetime(2025, 5, 25, tzinfo=UTC), store)
    assert (late.labels_filled, late.unlabelled_dropped) == (10, 10)  # April filled; May not landed
    frame = load_snapshot(store, late.key).set_index("id")
    assert frame.loc[300, "y"] == 0  # the latest label of an id wins
    assert frame.loc[range(300, 310), "y"].tolist() == april["y"].tolist()


def test_fill_keeps_row_order_and_existing_targets() -> None:
    table = pa.table({"id": ["a", "b", "c", "d"], "y": pa.array([1, None, None, 0], pa.int64())})
    labels = pa.table({"id": ["d", "c", "b"], "y": pa.array([1, 0, 1], pa.int32())})
    out, filled = fill_from_labels(table, labels, "id", "y")
    assert out["y"].to_pylist() == [1, 1, 0, 0] and filled == 2  # "d" keeps its own 0
    assert out["y"].type == pa.int64()
    absent, n = fill_from_labels(table.drop_columns(["y"]), labels, "id", "y")
    assert absent["y"].to_pylist() == [None, 1, 0, 1] and n == 3


def test_keep_labelled_without_nulls_is_the_same_table(make_pipeline: PipelineFactory) -> None:
    table = pa.table({"x": [1.0, 2.0], "y": [0, 1]})
    kept = keep_labelled(make_pipeline(_yaml()), table, "f.parquet")
    assert kept.table is table and kept.dropped == 0


def test_labels_source_missing_is_none_when_allowed_and_an_error_otherwise(
    make_pipeline: PipelineFactory, zone: Path
) -> None:
    pipe = make_pipeline(_yaml(labels="not-yet/*.parquet"))
    assert read_labels(pipe, allow_missing=True) is None
    with pytest.raises(DataSourceError, match=r"data\.labels\.source"):
        read_labels(pipe)


def test_labels_arrival_that_is_not_a_time_names_the_column(
    make_pipeline: PipelineFactory, zone: Path
) -> None:
    (zone / "labels").mkdir()
    pd.DataFrame({"id": [1], "y": [0], "at": ["yesterday"]}).to_parquet(zone / "labels" / "l.parquet")
    with pytest.raises(DataSourceError, match=r"'at' \(data.labels.arrived_at_column\)"):
        read_labels(make_pipeline(_yaml(labels="labels/*.parquet")))


def test_labels_named_otherwise_join_on_data_id_column(make_pipeline: PipelineFactory, zone: Path) -> None:
    (zone / "labels").mkdir()
    pd.DataFrame({"customer": [300, 301], "outcome": [1, 0]}).to_parquet(zone / "labels" / "l.parquet")
    text = _yaml().replace(
        "  features:",
        "  labels: {source: 'labels/*.parquet', id_column: customer, target: outcome}\n  features:",
    )
    labels = read_labels(make_pipeline(text))
    assert labels is not None and labels.column_names == ["id", "y"]  # named as the rows they join
    assert labels.to_pydict() == {"id": [300, 301], "y": [1, 0]}


def test_labels_need_the_rows_id_column(make_pipeline: PipelineFactory) -> None:
    from mlcycle.errors import ConfigError

    text = _yaml(labels="labels/*.parquet").replace("  id_column: id\n", "")
    with pytest.raises(ConfigError, match=r"data.id_column"):
        make_pipeline(text)
