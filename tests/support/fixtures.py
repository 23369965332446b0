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

    def alive(self) -> bool:
        """Whether any process of the server's group is still running."""
        return _group_alive(self.process.pid)

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


def _healthy(url: str, path: str = "/health") -> bool:
    """``GET url+path`` answers 200 (MLflow: ``/health``; Airflow: ``/api/v2/monitor/health``)."""
    try:
        with urllib.request.urlopen(f"{url}{path}", timeout=3) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


AIRFLOW_HEALTH = "/api/v2/monitor/health"


MlflowStarter = Callable[..., MlflowServer]


def start_mlflow_server(
    backend_store_uri: str,
    artifacts_destination: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
    *,
    workers: int = 1,
    timeout: float = 90,
) -> MlflowServer:
    """Launch ``mlflow server`` (job execution disabled) on a free loopback port; wait for ``/health``.

    The caller stops it (:meth:`MlflowServer.stop`); on a failed start it is stopped here.
    """
    port = free_port()
    log_path = log_dir / f"mlflow-server-{port}.log"
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
    proc = spawn(cmd, full_env, log_path, cwd=log_dir)
    server = MlflowServer(f"http://{LOOPBACK}:{port}", port, proc, log_path)
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
        server = start_mlflow_server(
            backend_store_uri, artifacts_destination, tmp_path, env, workers=workers, timeout=timeout
        )
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def spawn(
    cmd: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group (stop it with :func:`stop_process_group`), output to ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


# --------------------------------------------------------------------------- Redis (Celery broker)

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_START_HINT = 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no'


@dataclass(frozen=True)
class RedisQueue:
    """A uniquely named Celery queue on the machine's Redis: tests sharing the server never share a queue."""

    url: str  # redis://127.0.0.1:6379/0
    queue: str


@contextlib.contextmanager
def redis_queue() -> Iterator[RedisQueue]:
    """A fresh queue name on 127.0.0.1:6379; its keys are deleted afterwards."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}: {exc}\nStart it with: {REDIS_START_HINT}",
            pytrace=False,
        )
    queue = f"mlcycle-test-{uuid.uuid4().hex[:12]}"
    try:
        yield RedisQueue(f"redis://{REDIS_HOST}:{REDIS_PORT}/0", queue)
    finally:
        keys = [*client.scan_iter(f"*{queue}*"), queue]
        client.delete(*keys)
        client.close()


@pytest.fixture
def redis_broker() -> Iterator[RedisQueue]:
    """A fresh Celery queue on the machine's Redis for one test."""
    with redis_queue() as broker:
        yield broker


# --------------------------------------------------------------------------- Airflow services


def stop_process_groups(procs: list[subprocess.Popen[bytes]], grace: float = 15) -> None:
    """SIGTERM the groups of ``start_new_session`` children at once; SIGKILL what is left after ``grace`` s."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    _wait_until(
        lambda: not any(_group_alive(p.pid) for p in procs), timeout=max(0.5, grace / 3), interval=0.1
    )
    for proc in procs:
        if _group_alive(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM a ``start_new_session`` child's whole group; SIGKILL what is left after ``grace`` s."""
    stop_process_groups([proc], grace)


def _tail(path: Path, lines: int) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "<no log>"


def airflow_service_env(
    home: Path,
    sql_alchemy_conn: str,
    api_port: int,
    *,
    dags_folder: Path,
    plugins_folder: Path | None = None,
    parallelism: int = 2,
) -> dict[str, str]:
    """Settings for an api-server + scheduler + dag-processor sharing one metadata DB on loopback.

    LocalExecutor; the SimpleAuthManager treats every caller as admin (``all_admins``), so the REST
    API needs no login; one JWT secret for all processes, so the scheduler's task tokens are valid
    on the api-server's execution API.
    """
    base = f"http://{LOOPBACK}:{api_port}"
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "PYTHONWARNINGS": "ignore::UserWarning",
        "PYTHONUNBUFFERED": "1",
    }
    if plugins_folder is not None:
        env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins_folder)
    return env


def simple_auth_env(home: Path, username: str, password: str) -> dict[str, str]:
    """Settings for a SimpleAuthManager that asks for a login: one admin, its password in a JSON file.

    Writes ``<home>/simple_auth_manager_passwords.json`` (mode 0600); the password goes nowhere else.
    """
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({username: password}))
    passwords.chmod(0o600)
    return {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }


def celery_executor_env(broker: RedisQueue, result_backend: str, *, concurrency: int = 2) -> dict[str, str]:
    """Settings for ``CeleryExecutor``: Redis broker, SQLAlchemy result backend, every task on ``broker.queue``.

    ``result_backend`` is a SQLAlchemy URL (``db+postgresql://...``).
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": broker.queue,
    }


def run_module(
    module: str, args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python -m <module> <args>`` with exactly ``env``, output captured; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_airflow(
    env: dict[str, str], *args: str, timeout: float = 180, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``airflow <args>`` in a subprocess with exactly ``env``; never raises on a non-zero exit."""
    return run_module("airflow", list(args), env, cwd, timeout)


@dataclass
class AirflowProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class AirflowStack:
    """Running Airflow services (api-server, scheduler, dag-processor; with CeleryExecutor also a
    triggerer and a Celery worker), each in its own process group."""

    env: dict[str, str]
    api_url: str
    log_dir: Path
    processes: list[AirflowProcess] = field(default_factory=list)
    token: str | None = None  # a JWT from /auth/token, sent as a Bearer token once set (see login)

    def login(self, username: str, password: str) -> str:
        """``POST /auth/token`` as the UI's login does; later :meth:`api` calls carry the JWT."""
        req = urllib.request.Request(
            f"{self.api_url}/auth/token",
            data=json.dumps({"username": username, "password": password}).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                self.token = str(json.loads(resp.read())["access_token"])
        except urllib.error.HTTPError as err:
            raise AssertionError(f"POST {req.full_url} as {username!r}: HTTP {err.code}") from err
        return self.token

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """Call the public REST API (``/api/v2`` + ``path``) and return the decoded JSON."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(
            f"{self.api_url}/api/v2{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{method} {req.full_url}: HTTP {err.code}: {err.read()[:2000]!r}") from err

    def healthy(self) -> bool:
        return _healthy(self.api_url, AIRFLOW_HEALTH)

    def dead(self) -> list[str]:
        """Names of the services that have exited."""
        return [
            f"{p.name} (exit {p.process.returncode})" for p in self.processes if p.process.poll() is not None
        ]

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 120) -> None:
        """Wait until the dag-processor has serialized every one of ``dag_ids``."""

        def serialized() -> bool:
            found = {d["dag_id"] for d in self.api("GET", "/dags?limit=1000")["dags"]}
            return set(dag_ids) <= found

        if not _wait_until(lambda: bool(self.dead()) or serialized(), timeout, interval=1):
            self.fail(f"DAGs {dag_ids} not serialized within {timeout}s")
        if self.dead():
            self.fail(f"service(s) exited while waiting for DAGs: {', '.join(self.dead())}")

    def log_tails(self, lines: int = 80) -> str:
        return "\n".join(
            f"----- {p.name} ({p.log_path}), last {lines} lines -----\n{_tail(p.log_path, lines)}"
            for p in self.processes
        )

    def task_log_tails(self, dag_id: str, lines: int = 60) -> str:
        """Tails of every task attempt log of ``dag_id`` under ``$AIRFLOW_HOME/logs``."""
        logs = sorted((Path(self.env["AIRFLOW_HOME"]) / "logs").glob(f"dag_id={dag_id}/**/*.log"))
        return (
            "\n".join(f"----- {p} -----\n{_tail(p, lines)}" for p in logs) or f"<no task logs for {dag_id}>"
        )

    def log_of(self, name: str) -> str:
        """The whole log of service ``name`` (``celery-worker``, ``scheduler``, ...)."""
        return next(p.log_path for p in self.processes if p.name == name).read_text(errors="replace")

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n{self.log_tails()}", pytrace=False)

    def stop(self, grace: float = 20) -> None:
        stop_process_groups([p.process for p in self.processes], grace)

    def survivors(self) -> list[str]:
        """Services whose process group still has a live process."""
        return [p.name for p in self.processes if _group_alive(p.process.pid)]


AirflowStarter = Callable[..., AirflowStack]


def _airflow_commands(env: dict[str, str], triggerer: bool) -> dict[str, list[str]]:
    commands = {
        "api-server": [
            "api-server",
            "--host",
            env["AIRFLOW__API__HOST"],
            "--port",
            env["AIRFLOW__API__PORT"],
        ],
        "scheduler": ["scheduler", "--skip-serve-logs"],  # logs are local files; no 0.0.0.0:8793
        "dag-processor": ["dag-processor"],
    }
    if triggerer:
        commands["triggerer"] = ["triggerer", "--skip-serve-logs"]  # no 0.0.0.0:8794
    if env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor":
        queue = env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
        commands["celery-worker"] = [
            "celery",
            "worker",
            "--queues",
            queue,
            "--concurrency",
            env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "2"),
            "--celery-hostname",
            f"{queue}@%h",
            "--skip-serve-logs",
            # other tests' workers may share the Redis server: no gossip, no start-up sync with them
            "--without-gossip",
            "--without-mingle",
        ]
    return commands


def start_airflow_stack(
    env: dict[str, str], log_dir: Path, *, timeout: float = 120, triggerer: bool = False
) -> AirflowStack:
    """Launch the Airflow services as separate processes and wait for ``/api/v2/monitor/health``.

    api-server, scheduler and dag-processor always; a triggerer when asked; a Celery worker on
    ``AIRFLOW__OPERATORS__DEFAULT_QUEUE`` when ``env`` selects ``CeleryExecutor`` (see
    :func:`celery_executor_env`). ``env`` is the complete environment (see :func:`airflow_service_env`;
    the metadata DB must be migrated). The caller stops the stack; a failed start stops it here.
    """
    stack = AirflowStack(env, env["AIRFLOW__API__BASE_URL"], log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    for name, args in _airflow_commands(env, triggerer).items():
        log_path = log_dir / f"{name}.log"
        proc = spawn([sys.executable, "-m", "airflow", *args], env, log_path, cwd=log_dir)
        stack.processes.append(AirflowProcess(name, proc, log_path))
    _wait_until(lambda: bool(stack.dead()) or stack.healthy(), timeout, interval=0.5)
    if stack.dead() or not stack.healthy():
        why = f"exited: {', '.join(stack.dead())}" if stack.dead() else f"not healthy after {timeout}s"
        stack.stop()
        stack.fail(f"Airflow services on {stack.api_url} {why}")
    return stack


@pytest.fixture
def airflow_stack(tmp_path: Path) -> Iterator[AirflowStarter]:
    """Factory: ``start(env, *, timeout=120, triggerer=False)``, see :func:`start_airflow_stack`.

    Every process group is stopped at teardown.
    """
    stacks: list[AirflowStack] = []

    def start(env: dict[str, str], *, timeout: float = 120, triggerer: bool = False) -> AirflowStack:
        stack = start_airflow_stack(env, tmp_path / "airflow-logs", timeout=timeout, triggerer=triggerer)
        stacks.append(stack)
        return stack

    try:
        yield start
    finally:
        for stack in stacks:
            stack.stop()
