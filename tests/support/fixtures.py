"""Pytest fixtures that run real services on loopback: SMTP, a Slack webhook receiver, moto S3,
a throwaway PostgreSQL database and an ``mlflow server`` subprocess.

Register with ``pytest_plugins = ["tests.support.fixtures"]``.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

LOOPBACK = "127.0.0.1"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
MLFLOW_BIN = Path(sys.executable).with_name("mlflow")


def free_port() -> int:
    """Return a currently free TCP port on 127.0.0.1 (bind to port 0, then release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class ReceivedEmail:
    """One message as received by the SMTP server."""

    envelope_from: str
    envelope_to: list[str]
    from_: str
    to: str
    subject: str
    body: str
    message: EmailMessage


class _SmtpHandler:
    def __init__(self, sink: list[ReceivedEmail]) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(
            envelope.original_content or envelope.content, policy=email.policy.default
        )
        assert isinstance(msg, EmailMessage)
        part = msg.get_body(preferencelist=("plain", "html"))
        self.sink.append(
            ReceivedEmail(
                envelope_from=envelope.mail_from,
                envelope_to=list(envelope.rcpt_tos),
                from_=str(msg.get("From", "")),
                to=str(msg.get("To", "")),
                subject=str(msg.get("Subject", "")),
                body=part.get_content() if part else "",
                message=msg,
            )
        )
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """Handle to the running loopback SMTP server."""

    host: str
    port: int
    messages: list[ReceivedEmail] = field(default_factory=list)

    def wait_for(self, n: int, timeout: float = 10) -> list[ReceivedEmail]:
        """Wait until at least ``n`` messages arrived; return them."""
        if not _wait_until(lambda: len(self.messages) >= n, timeout):
            raise AssertionError(
                f"SMTP {self.host}:{self.port}: expected {n} message(s) within {timeout}s, "
                f"got {len(self.messages)}: {[m.subject for m in self.messages]}"
            )
        return list(self.messages)

    def airflow_conn_env(self, from_email: str = "airflow@example.com") -> dict[str, str]:
        """``AIRFLOW_CONN_SMTP_DEFAULT`` pointing at this server (plain SMTP, no SSL/STARTTLS)."""
        extra = {"disable_ssl": True, "disable_tls": True, "from_email": from_email}
        conn = {"conn_type": "smtp", "host": self.host, "port": self.port, "extra": extra}
        return {"AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(conn)}


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real aiosmtpd server on 127.0.0.1 recording every message it receives."""
    from aiosmtpd.controller import Controller

    server = SmtpServer(host=LOOPBACK, port=free_port())
    controller = Controller(_SmtpHandler(server.messages), hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


# --------------------------------------------------------------------------- Slack webhook


@dataclass(frozen=True)
class ReceivedRequest:
    """One POST received by the webhook receiver."""

    path: str
    headers: dict[str, str]
    body: bytes
    json: Any  # parsed body, or None when it is not JSON


class SlackReceiver:
    """Handle to the running webhook receiver."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.requests: list[ReceivedRequest] = []
        self.status = 200
        self.url = f"http://{host}:{port}"

    def respond_with(self, status: int) -> None:
        """Answer every following POST with this HTTP status."""
        self.status = status

    def wait_for(self, n: int, timeout: float = 10) -> list[ReceivedRequest]:
        """Wait until at least ``n`` POSTs arrived; return them."""
        if not _wait_until(lambda: len(self.requests) >= n, timeout):
            raise AssertionError(
                f"Slack receiver {self.url}: expected {n} POST(s) within {timeout}s, "
                f"got {len(self.requests)}: {[r.path for r in self.requests]}"
            )
        return list(self.requests)

    def airflow_conn_env(self, conn_id: str = "slack_default") -> dict[str, str]:
        """``AIRFLOW_CONN_<ID>`` for a slackwebhook connection; webhook URL = host + "/" + password."""
        conn = {"conn_type": "slackwebhook", "host": f"{self.url}/services", "password": "T000/B000/XXXX"}
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)}


def _slack_handler(receiver: SlackReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            receiver.requests.append(ReceivedRequest(self.path, dict(self.headers.items()), body, parsed))
            status = receiver.status
            reply = b"ok" if status < 400 else b"error"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


@pytest.fixture
def slack_receiver() -> Iterator[SlackReceiver]:
    """A real HTTP server on 127.0.0.1 recording POSTs like a Slack incoming webhook."""
    receiver = SlackReceiver(LOOPBACK, free_port())
    httpd = ThreadingHTTPServer((receiver.host, receiver.port), _slack_handler(receiver))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name="slack-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# --------------------------------------------------------------------------- S3 (moto server mode)


class S3Server:
    """Handle to a moto S3 server speaking the real S3 HTTP API."""

    access_key, secret_key, region = "testing", "testing-secret", "us-east-1"

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def env(self) -> dict[str, str]:
        """Env vars for a process (e.g. an mlflow server) that should use this endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
        }

    def client(self) -> Any:
        """A boto3 S3 client bound to this endpoint (explicit credentials, ignores ambient AWS env)."""
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (unique name by default) and return its name."""
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's ``ThreadedMotoServer`` on 127.0.0.1 for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class PostgresDatabase:
    """A freshly created, uniquely named database."""

    name: str
    sqlalchemy_url: str  # postgresql+psycopg2://postgres@127.0.0.1:5432/<name>
    url: str  # postgresql://postgres@127.0.0.1:5432/<name>


def _pg_admin() -> Any:
    import psycopg

    try:
        return psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT} as user {PG_USER!r}: {exc}\n"
            f"Start it with: {PG_START_HINT}",
            pytrace=False,
        )


@contextlib.contextmanager
def create_database() -> Iterator[PostgresDatabase]:
    """Create a fresh database on 127.0.0.1:5432; drop it (terminating its sessions) afterwards."""
    from psycopg import sql

    name = f"mlcycle_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = f"{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    try:
        yield PostgresDatabase(name, f"postgresql+psycopg2://{base}", f"postgresql://{base}")
    finally:
        with _pg_admin() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_database() -> Iterator[PostgresDatabase]:
    """A fresh database for one test."""
    with create_database() as db:
        yield db


# --------------------------------------------------------------------------- MLflow server


@dataclass
class MlflowServer:
    """A running ``mlflow server`` subprocess."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        """Last lines of the server's combined stdout/stderr."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "<no log>"

    def stop(self, grace: float = 10) -> None:
        """SIGTERM the whole process group, SIGKILL whatever is left after ``grace`` seconds."""
        pgid = self.process.pid  # start_new_session=True: pid == pgid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        if not _wait_until(lambda: not _group_alive(pgid), timeout=max(0.5, grace / 2), interval=0.1):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


MlflowStarter = Callable[..., MlflowServer]


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[MlflowStarter]:
    """Factory: ``start(backend_store_uri, artifacts_destination, env=None, *, workers=1, timeout=90)``.

    Launches ``mlflow server`` (job execution disabled) on a free loopback port, waits for
    ``GET /health`` == 200 and stops every started server's process group at teardown.
    """
    started: list[MlflowServer] = []

    def start(
        backend_store_uri: str,
        artifacts_destination: str,
        env: dict[str, str] | None = None,
        *,
        workers: int = 1,
        timeout: float = 90,
    ) -> MlflowServer:
        port = free_port()
        log_path = tmp_path / f"mlflow-server-{port}.log"
        cmd = [
            str(MLFLOW_BIN),
            "server",
            "--backend-store-uri",
            backend_store_uri,
            "--artifacts-destination",
            artifacts_destination,
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        full_env = {
            **os.environ,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=tmp_path,
                start_new_session=True,
            )
        server = MlflowServer(f"http://{LOOPBACK}:{port}", port, proc, log_path)
        started.append(server)
        _wait_until(lambda: proc.poll() is not None or _healthy(server.url), timeout, interval=0.25)
        if proc.poll() is not None or not _healthy(server.url):
            exited = proc.poll() is not None
            state = f"exited with code {proc.returncode}" if exited else f"not healthy after {timeout}s"
            server.stop()
            pytest.fail(
                f"mlflow server on {server.url} {state}.\nCommand: {' '.join(cmd)}\n"
                f"Log tail ({log_path}):\n{server.log_tail()}",
                pytrace=False,
            )
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
