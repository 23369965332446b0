"""The S3 artifact store on a real moto server (the local store: tests/unit/adapters/test_storage.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcycle.adapters.store import S3ArtifactStore
from mlcycle.errors import StorageError
from tests.support.fixtures import S3Server

# --------------------------------------------------------------------------- S3 (moto server)


def test_s3_publish_fetch_exists_read(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket()
    store = S3ArtifactStore(f"s3://{bucket}/mlcycle/", client=s3_server.client())
    assert not store.exists("runs/p/r/ingest.json")

    uri = store.publish_bytes(b'{"rows": 3}', "runs/p/r/ingest.json")
    assert uri == f"s3://{bucket}/mlcycle/runs/p/r/ingest.json"
    assert store.exists("runs/p/r/ingest.json")
    assert store.read_bytes("runs/p/r/ingest.json") == b'{"rows": 3}'

    src = tmp_path / "snap.parquet"
    src.write_bytes(bytes(range(256)) * 100)
    assert store.publish_file(src, "snapshots/p/h.parquet") == f"s3://{bucket}/mlcycle/snapshots/p/h.parquet"
    local = store.fetch("snapshots/p/h.parquet", tmp_path / "dl" / "nested" / "h.parquet")
    assert local == tmp_path / "dl" / "nested" / "h.parquet"
    assert local.read_bytes() == src.read_bytes()

    # The objects really sit under the prefix, as any other S3 client sees them.
    listed = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        "mlcycle/runs/p/r/ingest.json",
        "mlcycle/snapshots/p/h.parquet",
    ]


def test_s3_store_without_prefix(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket()
    store = S3ArtifactStore(f"s3://{bucket}", client=s3_server.client())
    assert store.publish_bytes(b"x", "k.txt") == f"s3://{bucket}/k.txt"
    assert s3_server.client().get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"x"


def test_s3_missing_bucket_error_names_bucket_and_key(s3_server: S3Server, tmp_path: Path) -> None:
    store = S3ArtifactStore("s3://mlcycle-no-such-bucket/pre", client=s3_server.client())
    target = "s3://mlcycle-no-such-bucket/pre/runs/x.json"
    with pytest.raises(StorageError) as info:
        store.publish_bytes(b"x", "runs/x.json")
    assert f"S3 PUT of {target} failed" in str(info.value)
    assert "NoSuchBucket" in str(info.value)
    src = tmp_path / "f.bin"
    src.write_bytes(b"f")
    with pytest.raises(StorageError, match=f"S3 upload of {target} failed"):
        store.publish_file(src, "runs/x.json")


def test_s3_missing_key_errors_name_the_key(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket()
    store = S3ArtifactStore(f"s3://{bucket}/pre", client=s3_server.client())
    with pytest.raises(StorageError, match=f"S3 GET of s3://{bucket}/pre/nope.json failed"):
        store.read_bytes("nope.json")
    with pytest.raises(StorageError, match=f"S3 download of s3://{bucket}/pre/nope.json failed"):
        store.fetch("nope.json", tmp_path / "nope.json")
