"""Artifact storage behind one small interface: local disk or S3 (boto3).

Publishing is atomic: a local object is written to a temporary name in the same directory and
renamed; an S3 object is sent as a single PUT (or a multipart upload, which S3 only makes
visible once complete). No reader ever sees a half-written object at its final key.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from mlcycle.errors import StorageError


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ArtifactStore(Protocol):
    def uri(self, key: str) -> str: ...
    def exists(self, key: str) -> bool: ...
    def publish_file(self, local_path: Path, key: str) -> str: ...
    def publish_bytes(self, data: bytes, key: str) -> str: ...
    def fetch(self, key: str, local_path: Path) -> Path:
        """A local path to read ``key`` from (may be the stored file itself: read, never modify)."""
        ...

    def read_bytes(self, key: str) -> bytes: ...
    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None where it cannot be told (missing, unreachable)."""
        ...

    def list_keys(self, prefix: str) -> list[str]:
        """Keys (relative to the root) under ``prefix``, sorted; published objects only."""
        ...


class LocalArtifactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StorageError(f"artifact key {key!r} escapes the artifact root {self.root}")
        return path

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def publish_file(self, local_path: Path, key: str) -> str:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
        os.close(fd)
        try:
            shutil.copyfile(local_path, tmp)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(dest)

    def publish_bytes(self, data: bytes, key: str) -> str:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(dest)

    def fetch(self, key: str, local_path: Path) -> Path:
        src = self._path(key)
        if not src.exists():
            raise StorageError(f"{src}: artifact not found; was the producing task run?")
        return src

    def read_bytes(self, key: str) -> bytes:
        src = self._path(key)
        try:
            return src.read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"{src}: artifact not found; was the producing task run?") from exc

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except (OSError, StorageError):
            return None

    def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith(".partial")
        )


def s3_client() -> Any:
    """A boto3 S3 client with the standard retry mode; endpoint and keys from the AWS env vars."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60),
    )


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise StorageError(f"{uri!r} is not an s3:// URI")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise StorageError(f"{uri!r} names no bucket; use s3://bucket/prefix")
    return bucket, prefix.strip("/")


class S3ArtifactStore:
    def __init__(self, root_uri: str, client: Any | None = None) -> None:
        self.bucket, self.prefix = split_s3_uri(root_uri)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def _key(self, key: str) -> str:
        if ".." in key.split("/"):
            raise StorageError(f"artifact key {key!r} may not contain '..'")
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _fail(self, action: str, key: str, exc: Exception) -> StorageError:
        return StorageError(f"S3 {action} of s3://{self.bucket}/{self._key(key)} failed: {exc}")

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail("HEAD", key, exc) from exc
        except Exception as exc:
            raise self._fail("HEAD", key, exc) from exc
        return True

    def publish_file(self, local_path: Path, key: str) -> str:
        try:
            self.client.upload_file(str(local_path), self.bucket, self._key(key))
        except Exception as exc:
            raise self._fail("upload", key, exc) from exc
        return self.uri(key)

    def publish_bytes(self, data: bytes, key: str) -> str:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as exc:
            raise self._fail("PUT", key, exc) from exc
        return self.uri(key)

    def fetch(self, key: str, local_path: Path) -> Path:
        local_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, self._key(key), str(local_path))
        except Exception as exc:
            raise self._fail("download", key, exc) from exc
        return local_path

    def read_bytes(self, key: str) -> bytes:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())
        except Exception as exc:
            raise self._fail("GET", key, exc) from exc

    def size(self, key: str) -> int | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except (BotoCoreError, ClientError):
            return None

    def list_keys(self, prefix: str) -> list[str]:
        full = self._key(prefix.strip("/")).rstrip("/") + "/"
        strip = f"{self.prefix}/" if self.prefix else ""
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                keys.extend(obj["Key"].removeprefix(strip) for obj in page.get("Contents", []))
        except Exception as exc:
            raise self._fail("LIST", prefix, exc) from exc
        return sorted(keys)


def open_store(root: str) -> ArtifactStore:
    """The store for ``root``: S3 for ``s3://…``, local disk otherwise."""
    if root.startswith("s3://"):
        return S3ArtifactStore(root)
    return LocalArtifactStore(root)
