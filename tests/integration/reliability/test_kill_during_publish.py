"""Issue 6, scenario 10: a process SIGKILLed while ingest publishes its snapshot leaves the snapshot
key absent or complete, never partial, on local disk and on S3 (moto's server speaking the S3 API).

Each attempt runs :func:`mlcycle.adapters.sources.publish_table` (the product's path) in a subprocess and
SIGKILLs it at a varied moment *while the object is being written*: the parent watches for the
write to start (a ``.partial`` temporary beside the key locally; an open multipart upload on S3),
then waits a varied extra delay before the kill.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcycle.adapters.store import ArtifactStore, LocalArtifactStore, S3ArtifactStore
from tests.support.fixtures import S3Server

ROOT = Path(__file__).resolve().parents[3]
PREFIX = "snapshots/killed"
# extra delay after the write was seen starting: 0 (at once) up to past a typical publish
DELAYS = (0.0, 0.01, 0.05, 0.5)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~20 MB of incompressible Parquet: big enough for S3 multipart (> 8 MB) and a measurable copy."""
    rng = np.random.default_rng(10)
    table = pa.table({f"x{i}": rng.random(400_000) for i in range(6)})
    path = tmp_path_factory.mktemp("kill-source") / "source.parquet"
    pq.write_table(table, path)
    return path


def _start(root: str, source: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.reliability.publish_worker", root, str(source), PREFIX],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "ready\n", f"worker did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
    return proc


def _kill_mid_write(
    root: str, source: Path, env: dict[str, str], writing: Callable[[], bool], delay: float
) -> bool:
    """SIGKILL a publishing worker ``delay`` s after ``writing()`` turns true; True if it was seen writing."""
    proc = _start(root, source, env)
    seen = False
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if writing():
            seen = True
            break
        time.sleep(0.001)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return seen


def _assert_absent_or_complete(store: ArtifactStore, key: str, digest: str, tmp: Path) -> bool:
    """The invariant; returns whether the key is present."""
    listed = store.list_keys(PREFIX)
    assert set(listed) <= {key}, f"unexpected objects under {PREFIX}: {listed}"
    if not store.exists(key):
        assert listed == [], listed
        return False
    data = store.fetch(key, tmp / "fetched.parquet").read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest, f"{store.uri(key)} is partial: {len(data)} bytes"
    assert key in listed
    return True


def _expected(root: str, source: Path, env: dict[str, str]) -> str:
    """Run the worker to completion once; return the key it publishes (content-addressed)."""
    proc = _start(root, source, env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out.strip().removeprefix("published ")


def _exercise(
    store: ArtifactStore,
    root: str,
    source: Path,
    env: dict[str, str],
    writing: Callable[[], bool],
    remove: Callable[[str], None],
    tmp: Path,
) -> list[str]:
    key = _expected(root, source, env)
    digest = key.rsplit("/", 1)[1].removesuffix(".parquet")
    assert _assert_absent_or_complete(store, key, digest, tmp)
    outcomes = []
    for delay in DELAYS:
        remove(key)
        seen = _kill_mid_write(root, source, env, writing, delay)
        present = _assert_absent_or_complete(store, key, digest, tmp)
        outcomes.append(f"{delay}s:{'seen' if seen else 'unseen'}:{'complete' if present else 'absent'}")
    # the kill landed mid-write at least once (the write had started and the key stayed absent)
    assert any(o.endswith(":seen:absent") for o in outcomes), outcomes
    # a later run publishes the snapshot whole; the killed attempts left nothing in its way
    remove(key)
    assert _expected(root, source, env) == key
    assert _assert_absent_or_complete(store, key, digest, tmp)
    return outcomes


def test_sigkill_during_local_publish_leaves_the_key_absent_or_complete(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = LocalArtifactStore(root)
    folder = root / PREFIX

    def writing() -> bool:
        return folder.is_dir() and any(p.name.endswith(".partial") for p in folder.iterdir())

    def remove(key: str) -> None:
        for p in folder.glob("*") if folder.is_dir() else []:
            p.unlink()  # the key and any temporary a killed worker could not clean up

    outcomes = _exercise(store, str(root), source, {}, writing, remove, tmp_path)
    print(f"\nlocal kills: {outcomes}")


def test_sigkill_during_s3_publish_leaves_the_key_absent_or_complete(
    source: Path, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.create_bucket()
    client = s3_server.client()
    store = S3ArtifactStore(f"s3://{bucket}", client=client)

    def uploads() -> list[dict[str, str]]:
        return list(client.list_multipart_uploads(Bucket=bucket, Prefix=PREFIX).get("Uploads", []))

    def writing() -> bool:
        return bool(uploads())

    def remove(key: str) -> None:
        client.delete_object(Bucket=bucket, Key=key)
        for up in uploads():  # a killed upload's parts stay until aborted (a lifecycle rule, in AWS)
            client.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])

    outcomes = _exercise(store, f"s3://{bucket}", source, s3_server.env(), writing, remove, tmp_path)
    print(f"\nS3 kills: {outcomes}")
