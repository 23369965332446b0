"""Issue 6, scenario 11: the S3 endpoint down, and S3 throttling (503 SlowDown).

- Down (nothing listens on the endpoint's port): a publish fails within seconds naming bucket and
  key; through the training DAG the ingest task fails, is retried once, and exactly one failure
  notification per channel goes out after the last try; nothing is published, no model is made.
- Throttled: a loopback proxy in front of moto answers ``503 SlowDown`` to the first K requests.
  moto cannot be told to throttle and real S3 cannot be made to here, so this proxy is the only way
  to get a genuine SlowDown reply on the wire. boto3's standard retry mode (``storage.s3_client``)
  rides it out and the key holds one complete object; past its bounded attempts it fails naming
  bucket and key.
"""

from __future__ import annotations

import html
import http.client
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from mlcycle.adapters.store import S3ArtifactStore, s3_client
from mlcycle.config.settings import load_settings
from mlcycle.errors import StorageError
from tests.integration.reliability.conftest import SLACK_TOKEN, notifying
from tests.support.fixtures import LOOPBACK, S3Server, free_port

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>proxy</RequestId></Error>"
)


class ThrottlingProxy:
    """Forwards every request to moto, except that the first ``throttle`` get 503 SlowDown."""

    def __init__(self, upstream: str, throttle: int) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.throttle = throttle
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self.lock:
            throttled = len(self.seen) < self.throttle
            self.seen.append((handler.command, handler.path, 503 if throttled else 0))
            index = len(self.seen) - 1
        if throttled:
            status, headers, reply = 503, [("Content-Type", "application/xml")], SLOW_DOWN
        else:
            conn = http.client.HTTPConnection(self.upstream, timeout=60)
            conn.request(handler.command, handler.path, body=body, headers=dict(handler.headers.items()))
            resp = conn.getresponse()
            status, reply = resp.status, resp.read()
            headers = [
                (k, v)
                for k, v in resp.getheaders()
                if k.lower() not in ("transfer-encoding", "connection", "content-length")
            ]
            conn.close()
            with self.lock:
                self.seen[index] = (handler.command, handler.path, status)
        handler.send_response(status)
        for key, value in headers:
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(reply)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(reply)


@pytest.fixture
def throttling_proxy(s3_server: S3Server) -> Iterator[Callable[[int], ThrottlingProxy]]:
    servers: list[ThreadingHTTPServer] = []

    def start(throttle: int) -> ThrottlingProxy:
        proxy = ThrottlingProxy(s3_server.endpoint_url, throttle)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive and 100-continue, as S3 speaks

            def _any(self) -> None:
                proxy.answer(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(httpd)
        proxy.url = f"http://{LOOPBACK}:{httpd.server_address[1]}"
        return proxy

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def _point_boto3_at(monkeypatch: pytest.MonkeyPatch, s3: S3Server, endpoint: str) -> None:
    for key, value in {**s3.env(), "AWS_ENDPOINT_URL_S3": endpoint}.items():
        monkeypatch.setenv(key, value)


def test_s3_down_fails_fast_naming_bucket_and_key(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_boto3_at(monkeypatch, s3_server, f"http://{LOOPBACK}:{free_port()}")  # nothing listens there
    store = S3ArtifactStore("s3://models-bucket/artifacts")
    started = time.monotonic()
    with pytest.raises(StorageError) as err:
        store.publish_bytes(b"{}", "runs/x/ingest.json")
    elapsed = time.monotonic() - started
    assert "s3://models-bucket/artifacts/runs/x/ingest.json" in str(err.value)
    assert "Could not connect to the endpoint URL" in str(err.value)
    assert elapsed < 30, f"took {elapsed:.1f}s: retries must be bounded"


def test_s3_slowdown_is_retried_and_publishes_one_object(
    s3_server: S3Server,
    throttling_proxy: Callable[[int], ThrottlingProxy],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    bucket = s3_server.create_bucket()
    proxy = throttling_proxy(3)
    _point_boto3_at(monkeypatch, s3_server, proxy.url)
    store = S3ArtifactStore(f"s3://{bucket}/artifacts")

    store.publish_bytes(b'{"ok": true}', "runs/r1/ingest.json")
    assert [s for _, _, s in proxy.seen] == [503, 503, 503, 200], proxy.seen
    assert {m for m, _, _ in proxy.seen} == {"PUT"}

    # multipart (> 8 MB): throttled again at the start, completes whole, no upload left open
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 41_000)  # ~10 MiB: two parts
    proxy.seen.clear()
    proxy.throttle = 2
    store.publish_file(big, "snapshots/p/big.parquet")
    assert [s for _, _, s in proxy.seen[:2]] == [503, 503] and all(s == 200 for _, _, s in proxy.seen[2:]), (
        proxy.seen
    )
    client = s3_server.client()
    assert store.list_keys("") == ["runs/r1/ingest.json", "snapshots/p/big.parquet"]
    assert (
        client.get_object(Bucket=bucket, Key="artifacts/snapshots/p/big.parquet")["Body"].read()
        == big.read_bytes()
    )
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    versions = client.list_object_versions(Bucket=bucket).get("Versions", [])
    assert len(versions) == 2, versions

    # throttled beyond the standard mode's bounded attempts: fails naming bucket and key
    proxy.seen.clear()
    proxy.throttle = 100
    with pytest.raises(StorageError) as err:
        store.publish_bytes(b"{}", "runs/r1/other.json")
    assert f"s3://{bucket}/artifacts/runs/r1/other.json" in str(err.value) and "SlowDown" in str(err.value)
    retries = s3_client().meta.config.retries  # botocore: max_attempts=5 retries -> 6 attempts in all
    assert retries == {"mode": "standard", "total_max_attempts": 6}
    assert len(proxy.seen) == retries["total_max_attempts"], proxy.seen


def test_training_dag_with_s3_down_retries_then_notifies_once(
    s3_server: S3Server,
    demo_dir: Path,
    write_pipeline: Callable[..., str],
    notify_env: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlcycle.airflow.devrun import _test_run, prepare_airflow
    from mlcycle.airflow.factory import build_training_dag
    from mlcycle.config.loader import find_pipeline

    smtp, slack = notify_env
    model = "s3_down_churn"
    name = write_pipeline("s3_down", notifying(model))
    _point_boto3_at(monkeypatch, s3_server, f"http://{LOOPBACK}:{free_port()}")
    monkeypatch.setenv("MLCYCLE_ARTIFACT_ROOT", "s3://lake-bucket/artifacts")
    prepare_airflow()
    dag = build_training_dag(find_pipeline(name))

    started = time.monotonic()
    dr = _test_run(dag, datetime(2026, 1, 1, tzinfo=UTC), None)
    elapsed = time.monotonic() - started

    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert str(dr.state) == "failed"
    assert str(tis["ingest"].state) == "failed" and tis["ingest"].try_number == 2, "retried once, then failed"
    assert {str(ti.state) for t, ti in tis.items() if t != "ingest"} == {"upstream_failed"}
    assert elapsed < 120, f"{elapsed:.0f}s for two tries against a dead endpoint"
    [email] = smtp.wait_for(1)
    [post] = slack.wait_for(1)
    time.sleep(1)  # nothing more arrives: the retry sent nothing
    assert len(smtp.messages) == 1 and len(slack.requests) == 1
    body = html.unescape(email.body)
    assert "(try 2)" in body and "s3://lake-bucket/artifacts/snapshots/s3_down/" in body, body
    assert "s3://lake-bucket/artifacts/snapshots/s3_down/" in post.json["text"]
    assert SLACK_TOKEN not in body
    uri = load_settings().tracking_uri
    assert MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions(f"name = '{model}'") == []
