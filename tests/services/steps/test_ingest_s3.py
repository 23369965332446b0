"""Ingest from S3 sources on a real moto server (local sources: tests/unit/steps/test_ingest.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlcycle.adapters.store import LocalArtifactStore
from mlcycle.errors import DataSourceError
from mlcycle.steps.ingest import ingest_snapshot
from tests.support.fixtures import S3Server
from tests.unit.conftest import PipelineFactory
from tests.unit.steps.test_ingest import END, _all_objects, _ids, _rows, _write_parquet, _yaml

# --------------------------------------------------------------------------- S3 source (moto)


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def s3_env(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(tmp_path / "not-used"))
    return s3_server


def _put_csv(server: S3Server, bucket: str, key: str, frame: pd.DataFrame) -> None:
    server.client().put_object(Bucket=bucket, Key=key, Body=frame.to_csv(index=False).encode())


def test_s3_prefix_source(
    make_pipeline: PipelineFactory, s3_env: S3Server, store: LocalArtifactStore
) -> None:
    bucket = s3_env.create_bucket()
    _put_csv(s3_env, bucket, "events/a.csv", _rows(["2025-02-20 00:00:00", "2024-01-01"], start_id=0))
    _put_csv(s3_env, bucket, "events/sub/b.csv", _rows(["2025-02-21 00:00:00"], start_id=10))
    s3_env.client().put_object(Bucket=bucket, Key="events/_SUCCESS", Body=b"")
    snap = ingest_snapshot(make_pipeline(_yaml(f"s3://{bucket}/events/")), END, store)
    assert _ids(store, snap.key) == [0, 10]
    assert snap.source_files == 2
    assert snap.source == f"s3://{bucket}/events/"


def test_s3_prefix_does_not_read_sibling_prefixes(
    make_pipeline: PipelineFactory, s3_env: S3Server, store: LocalArtifactStore
) -> None:
    # s3://bucket/events/ is a "directory": s3://bucket/events_archive/ is not inside it.
    bucket = s3_env.create_bucket()
    _put_csv(s3_env, bucket, "events/a.csv", _rows(["2025-02-20 00:00:00"], start_id=0))
    _put_csv(s3_env, bucket, "events_archive/old.csv", _rows(["2025-02-21 00:00:00"], start_id=50))
    snap = ingest_snapshot(make_pipeline(_yaml(f"s3://{bucket}/events/")), END, store)
    assert _ids(store, snap.key) == [0]
    assert snap.source_files == 1


def test_s3_glob_source_and_parquet(
    make_pipeline: PipelineFactory, s3_env: S3Server, store: LocalArtifactStore, tmp_path: Path
) -> None:
    bucket = s3_env.create_bucket()
    client = s3_env.client()
    for i, day in enumerate(["2025-02-20", "2025-02-21"]):
        path = _write_parquet(
            tmp_path / f"p{i}.parquet",
            _rows([f"{day} 00:00:00"], start_id=i).astype({"ts": "datetime64[ns]"}),
        )
        client.upload_file(str(path), bucket, f"in/part-{i}.parquet")
    _put_csv(s3_env, bucket, "in/notes.csv", _rows(["2025-02-20 00:00:00"], start_id=99))
    snap = ingest_snapshot(make_pipeline(_yaml(f"s3://{bucket}/in/part-*.parquet")), END, store)
    assert _ids(store, snap.key) == [0, 1]
    again = ingest_snapshot(make_pipeline(_yaml(f"s3://{bucket}/in/part-*.parquet")), END, store)
    assert again.key == snap.key
    assert _all_objects(store) == [snap.key]


def test_s3_source_errors_name_the_source(
    make_pipeline: PipelineFactory, s3_env: S3Server, store: LocalArtifactStore
) -> None:
    bucket = s3_env.create_bucket()
    with pytest.raises(DataSourceError, match="matches no objects"):
        ingest_snapshot(make_pipeline(_yaml(f"s3://{bucket}/nothing/")), END, store)
    with pytest.raises(DataSourceError, match="cannot list s3://mlcycle-missing-bucket/x"):
        ingest_snapshot(make_pipeline(_yaml("s3://mlcycle-missing-bucket/x/")), END, store)
    s3_env.client().put_object(Bucket=bucket, Key="bad/b.parquet", Body=b"garbage" * 20)
    with pytest.raises(DataSourceError) as info:
        ingest_snapshot(make_pipeline(_yaml(f"s3://{bucket}/bad/")), END, store)
    assert str(info.value).startswith(f"s3://{bucket}/bad/b.parquet: not a readable parquet file")
