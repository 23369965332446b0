"""Pruning an S3 source on a real moto server (local sources: tests/unit/adapters/test_pruning.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcycle.adapters.sources import SourceSpec, read_source
from tests.support.fixtures import S3Server
from tests.unit.adapters.test_pruning import MONTHS, WINDOW, _in_window, _month_file


@pytest.fixture
def s3_env(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(tmp_path / "not-used"))
    return s3_server


def test_s3_objects_dated_outside_the_window_are_never_downloaded(s3_env: S3Server, tmp_path: Path) -> None:
    bucket = s3_env.create_bucket()
    client = s3_env.client()
    (tmp_path / "landing").mkdir()
    for year, month in MONTHS:
        key = f"landing/churn_{year}-{month:02d}.parquet"
        if _in_window(year, month):
            client.upload_file(str(_month_file(tmp_path, year, month)), bucket, key)
        else:  # downloading and opening any of these fails the read
            client.put_object(Bucket=bucket, Key=key, Body=b"\x00garbage\xff" * 40)
    spec = SourceSpec(
        f"s3://{bucket}/landing/", "auto", ["id", "ts"], timestamp_column="ts", path_date="churn_%Y-%m"
    )
    digests: dict[str, str] = {}
    pruned: list[str] = []
    table, files = read_source(spec, *WINDOW, digests=digests, pruned=pruned)
    assert table is not None and table.num_rows == 20 and files == len(MONTHS)
    assert sorted(digests) == [f"s3://{bucket}/landing/churn_2025-0{m}.parquet" for m in (2, 3)]
    assert len(pruned) == len(MONTHS) - 2 and all(p.startswith(f"s3://{bucket}/landing/") for p in pruned)


def test_s3_objects_are_skipped_by_their_statistics_after_download(s3_env: S3Server, tmp_path: Path) -> None:
    bucket = s3_env.create_bucket()
    client = s3_env.client()
    (tmp_path / "landing").mkdir()
    for year, month in MONTHS:
        client.upload_file(
            str(_month_file(tmp_path, year, month)), bucket, f"in/part-{year}{month:02d}.parquet"
        )
    spec = SourceSpec(f"s3://{bucket}/in/part-*.parquet", "auto", ["id", "ts"], timestamp_column="ts")
    digests: dict[str, str] = {}
    pruned: list[str] = []
    table, files = read_source(spec, *WINDOW, digests=digests, pruned=pruned)
    assert table is not None and table.num_rows == 20 and files == len(MONTHS)
    assert sorted(digests) == [f"s3://{bucket}/in/part-20250{m}.parquet" for m in (2, 3)]
    assert len(pruned) == len(MONTHS) - 2 and not set(pruned) & set(digests)
