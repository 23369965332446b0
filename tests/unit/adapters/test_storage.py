"""Artifact stores: local disk (atomic rename, confined to its root) and S3 key handling without a server.

The S3 store against a real moto server: tests/services/adapters/test_storage_s3.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcycle.adapters.store import LocalArtifactStore, S3ArtifactStore, open_store, split_s3_uri
from mlcycle.errors import StorageError


def _all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- local


def test_local_publish_bytes_and_read_back(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "art")
    uri = store.publish_bytes(b"hello", "runs/p/r1/ingest.json")
    assert Path(uri) == (tmp_path / "art" / "runs" / "p" / "r1" / "ingest.json").resolve()
    assert store.exists("runs/p/r1/ingest.json")
    assert store.read_bytes("runs/p/r1/ingest.json") == b"hello"
    assert store.uri("runs/p/r1/ingest.json") == uri


def test_local_publish_leaves_no_partial_files(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "art")
    src = tmp_path / "snapshot.parquet"
    src.write_bytes(b"x" * 10_000)
    store.publish_file(src, "snapshots/p/abc.parquet")
    store.publish_bytes(b"{}", "snapshots/p/abc.json")
    store.publish_bytes(b"{ }", "snapshots/p/abc.json")  # overwrite in place
    assert _all_files(tmp_path / "art") == ["snapshots/p/abc.json", "snapshots/p/abc.parquet"]
    assert store.read_bytes("snapshots/p/abc.json") == b"{ }"
    assert store.read_bytes("snapshots/p/abc.parquet") == b"x" * 10_000


def test_local_failed_publish_cleans_up_and_publishes_nothing(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "art")
    with pytest.raises(FileNotFoundError):
        store.publish_file(tmp_path / "does-not-exist.parquet", "snapshots/p/x.parquet")
    assert not store.exists("snapshots/p/x.parquet")
    assert _all_files(tmp_path / "art") == []


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", ".", "../art-sibling/x"])
def test_local_key_escaping_the_root_is_refused(tmp_path: Path, key: str) -> None:
    store = LocalArtifactStore(tmp_path / "art")
    with pytest.raises(StorageError, match="escapes the artifact root"):
        store.publish_bytes(b"nope", key)
    with pytest.raises(StorageError, match="escapes the artifact root"):
        store.exists(key)
    assert _all_files(tmp_path) == []


def test_local_dotdot_that_stays_inside_is_allowed(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "art")
    store.publish_bytes(b"ok", "a/../b/c.txt")
    assert (tmp_path / "art" / "b" / "c.txt").read_bytes() == b"ok"


def test_local_missing_artifact_errors_name_the_path(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "art")
    expected = str((tmp_path / "art" / "runs" / "missing.json").resolve())
    with pytest.raises(StorageError, match="artifact not found") as info:
        store.read_bytes("runs/missing.json")
    assert expected in str(info.value)
    with pytest.raises(StorageError, match="artifact not found") as info:
        store.fetch("runs/missing.json", tmp_path / "dl" / "missing.json")
    assert expected in str(info.value)
    assert not store.exists("runs/missing.json")


def test_local_fetch_returns_a_readable_path(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "art")
    store.publish_bytes(b"payload", "k/obj.bin")
    got = store.fetch("k/obj.bin", tmp_path / "dl" / "obj.bin")
    assert got.read_bytes() == b"payload"


def test_open_store_picks_the_adapter(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalArtifactStore)
    s3 = open_store("s3://bucket/some/prefix/")
    assert isinstance(s3, S3ArtifactStore)
    assert s3.uri("a/b.json") == "s3://bucket/some/prefix/a/b.json"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("s3://b/p/q/", ("b", "p/q")), ("s3://b", ("b", "")), ("s3://b/", ("b", ""))],
)
def test_split_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["/local/path", "s3:///prefix", "S3//b"])
def test_split_s3_uri_rejects_non_s3(uri: str) -> None:
    with pytest.raises(StorageError, match=r"s3://"):
        split_s3_uri(uri)


def test_s3_key_with_dotdot_is_refused_before_any_request() -> None:
    store = S3ArtifactStore("s3://bucket/prefix", client=object())
    with pytest.raises(StorageError, match=r"may not contain '\.\.'"):
        store.uri("a/../../b")
