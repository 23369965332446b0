"""Shared fixtures of the reliability suite: one sandbox whose every secret is a canary, one champion.

Also (fault scenarios 9-14): notification channels wired as Airflow connections, task-log helpers and
a private PostgreSQL cluster the tests may restart.

The sandbox lives for the whole package: an SMTP server that requires a login, a Slack webhook
receiver, the moto S3 server as the artifact store, and the connections and AWS keys that reach
them, each carrying the same unique canary string. Every DAG run of the package happens inside it,
so ``test_secrets_sweep.py`` (collected last) can search everything those runs left for the canary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient

from mlcycle.adapters.store import open_store
from mlcycle.airflow.devrun import run_training
from mlcycle.config.settings import load_settings
from mlcycle.core.summaries import RunSummary
from tests.integration.conftest import LOGICAL_DATE, data_root, demo_dir, write_pipeline
from tests.support.fixtures import (
    LOOPBACK,
    S3Server,
    SlackReceiver,
    SmtpServer,
    _slack_handler,
    _SmtpHandler,
    free_port,
)

__all__ = ["data_root", "demo_dir", "write_pipeline"]  # fixtures shared with the integration tier

MODEL = "rel_churn"
WINDOW_START = pd.Timestamp("2025-01-01", tz="UTC")  # LOGICAL_DATE minus the demo's 365-day lookback
WINDOW_END = pd.Timestamp(LOGICAL_DATE)
NULL_COLUMN, MOSTLY = "total_charges", 0.95  # churn.yaml: expect_column_values_to_not_be_null, mostly 0.95
EXTRA_COLUMN = "crm_note"  # not named by the YAML: ignored (never read into the snapshot)


@dataclass
class Sandbox:
    """The loopback services and where the package's runs publish."""

    canary: str
    smtp: SmtpServer
    slack: SlackReceiver
    s3: S3Server
    bucket: str
    env: dict[str, str]
    logins: list[tuple[str, str]]  # SMTP AUTH attempts (login, password) the server saw

    @property
    def artifact_root(self) -> str:
        return f"s3://{self.bucket}/mlcycle"

    def keys(self, prefix: str = "") -> list[str]:
        return open_store(self.artifact_root).list_keys(prefix)

    def notifications(self) -> tuple[int, int]:
        return len(self.smtp.messages), len(self.slack.requests)


def _smtp_with_login(canary: str, logins: list[tuple[str, str]]) -> tuple[SmtpServer, Any]:
    """aiosmtpd requiring AUTH (over plain loopback) with the canary as the only valid password."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.password.decode() == canary)
        return AuthResult(success=False)

    server = SmtpServer(host=LOOPBACK, port=free_port())
    controller = Controller(
        _SmtpHandler(server.messages),
        hostname=server.host,
        port=server.port,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    return server, controller


@pytest.fixture(scope="package")
def sandbox(s3_server: S3Server) -> Iterator[Sandbox]:
    canary = f"cnry{uuid.uuid4().hex}"
    logins: list[tuple[str, str]] = []
    smtp, controller = _smtp_with_login(canary, logins)
    slack = SlackReceiver(LOOPBACK, free_port())
    httpd = ThreadingHTTPServer((slack.host, slack.port), _slack_handler(slack))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    bucket = s3_server.create_bucket()
    smtp_extra = {"disable_ssl": True, "disable_tls": True, "from_email": "airflow@example.com"}
    env = {
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
            {
                "conn_type": "smtp",
                "host": smtp.host,
                "port": smtp.port,
                "login": "mlcycle",
                "password": canary,
                "extra": smtp_extra,
            }
        ),
        "AIRFLOW_CONN_SLACK_DEFAULT": json.dumps(
            {"conn_type": "slackwebhook", "host": f"{slack.url}/services", "password": f"T000/B000/{canary}"}
        ),
        # present in every task's environment, used by none: a secret that must not surface either
        "AIRFLOW_CONN_WAREHOUSE_DB": f"postgresql://etl:{canary}@127.0.0.1:5432/warehouse",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {
                "conn_type": "aws",
                "login": s3_server.access_key,
                "password": canary,
                "extra": {"region_name": s3_server.region, "endpoint_url": s3_server.endpoint_url},
            }
        ),
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": canary,  # moto does not check signatures; boto3 signs every call with it
        "AWS_DEFAULT_REGION": s3_server.region,
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint_url,
        "MLCYCLE_ARTIFACT_ROOT": f"s3://{bucket}/mlcycle",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        try:
            yield Sandbox(canary, smtp, slack, s3_server, bucket, env, logins)
        finally:
            controller.stop()
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=10)


def registry() -> MlflowClient:
    uri = load_settings().tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def champion_version(model: str = MODEL) -> str | None:
    try:
        return str(registry().get_model_version_by_alias(model, "champion").version)
    except Exception:
        return None


def versions(model: str = MODEL) -> list[str]:
    return sorted(str(v.version) for v in registry().search_model_versions(f"name = '{model}'"))


def alias_moves(model: str = MODEL) -> list[dict[str, Any]]:
    """The model's alias history (one tag per move, written under the alias lock)."""
    tags = registry().get_registered_model(model).tags
    return [json.loads(v) for k, v in sorted(tags.items()) if k.startswith("mlcycle.history.")]


def in_window(frame: pd.DataFrame) -> pd.Series:
    return (frame["event_time"] >= WINDOW_START) & (frame["event_time"] < WINDOW_END)


@pytest.fixture(scope="package")
def base_frame(demo_dir: Path) -> pd.DataFrame:
    """The demo rows plus an extra column, with nulls in total_charges at exactly the `mostly` bound.

    The training window then holds a multiple of 20 rows, 5% of them null in ``total_charges``.
    """
    frame = pd.concat([pd.read_parquet(p) for p in sorted(demo_dir.glob("*.parquet"))], ignore_index=True)
    frame[EXTRA_COLUMN] = "free text the pipeline never reads"
    inside = frame.index[in_window(frame)]
    frame = frame.drop(inside[: len(inside) % 20]).reset_index(drop=True)
    inside = frame.index[in_window(frame)]
    frame.loc[inside, NULL_COLUMN] = frame.loc[inside, NULL_COLUMN].fillna(frame[NULL_COLUMN].median())
    nulls = round(len(inside) * (1 - MOSTLY))
    frame.loc[inside[::20][:nulls], NULL_COLUMN] = None
    assert int(frame.loc[inside, NULL_COLUMN].isna().sum()) == nulls == len(inside) // 20
    return frame


NOTIFY = {
    "events": ["failure"],
    "slack_conn_id": "slack_default",
    "smtp_conn_id": "smtp_default",
    "email": ["oncall@example.com"],
}


@pytest.fixture(scope="package")
def pipeline(write_pipeline: Callable[..., str]) -> Callable[..., str]:
    """``pipeline(name, source, **edits)``: the demo YAML on MODEL, notifying, retried once quickly."""

    def make(name: str, source: str, **edits: Any) -> str:
        return write_pipeline(
            name,
            {
                "retries": 1,  # a failed run notifies once, after its last try
                "retry_delay_minutes": 0.01,
                "registry": {"model_name": MODEL},
                "data": {"source": source, "format": "auto"},
                "notifications": NOTIFY,
                **edits,
            },
        )

    return make


@pytest.fixture(scope="package")
def champion(sandbox: Sandbox, base_frame: pd.DataFrame, pipeline: Callable[..., str]) -> RunSummary:
    """The champion every scenario must leave alone, trained from S3 (through the canary keys)."""
    client = sandbox.s3.client()
    months = base_frame["event_time"].dt.strftime("%Y-%m")
    for month, part in base_frame.groupby(months):
        path = Path(os.environ["MLCYCLE_DATA_ROOT"]) / "rel_upload.parquet"
        part.to_parquet(path, index=False)
        client.upload_file(str(path), sandbox.bucket, f"landing/churn/{month}.parquet")
    name = pipeline("rel_champion", f"s3://{sandbox.bucket}/landing/churn/*.parquet")
    summary = run_training(name, logical_date=LOGICAL_DATE)
    assert summary.succeeded, summary.render()
    assert champion_version() == summary.records["promotion"]["version"]
    return summary


def task_output_log() -> Path:
    """Where every reliability test's captured output (in-process task logs) is kept for the sweep."""
    return Path(os.environ["MLCYCLE_HOME"]) / "reliability-task-output.log"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # dag.test() runs tasks in-process, logging to the test's stdout/stderr: keep it, passed or not
    if "tests/integration/reliability/" not in report.nodeid.replace("\\", "/"):
        return
    captured = "".join(content for _, content in report.sections)
    if captured:
        path = task_output_log()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"==== {report.nodeid} ({report.when})\n{captured}\n")


# --------------------------------------------------------------------------- fault scenarios 9-14

SLACK_TOKEN = "T000/B000/XXXX"  # the password of SlackReceiver's connection: the webhook's secret part


@pytest.fixture
def notify_env(
    smtp_server: SmtpServer, slack_receiver: SlackReceiver, monkeypatch: pytest.MonkeyPatch
) -> tuple[SmtpServer, SlackReceiver]:
    """``smtp_default`` and ``slack_default`` pointing at the loopback SMTP server and Slack receiver."""
    for key, value in {**smtp_server.airflow_conn_env(), **slack_receiver.airflow_conn_env()}.items():
        monkeypatch.setenv(key, value)
    return smtp_server, slack_receiver


def notifying(model_name: str, **edits: object) -> dict[str, object]:
    """Pipeline edits: this model name, failures to Slack and email, one quick retry."""
    return {
        "retries": 1,
        "retry_delay_minutes": 0.02,  # ~1 s
        "registry": {"model_name": model_name},
        "notifications": {
            "events": ["failure"],
            "slack_conn_id": "slack_default",
            "smtp_conn_id": "smtp_default",
            "email": ["oncall@example.com"],
        },
        **edits,
    }


@pytest.fixture
def task_logs() -> Iterator[Path]:
    """``$AIRFLOW_HOME/logs``: where task attempt logs go (dag.test() may also log to the console)."""
    yield Path(os.environ["AIRFLOW_HOME"]) / "logs"


def text_of_logs(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- private PostgreSQL

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/usr/lib/postgresql/bin"))


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb in a temp dir, a free port): ours to restart.

    The machine's shared cluster on 5432 serves other work and CI; restarting it is not allowed.
    """

    data: Path
    port: int
    log: Path
    user: str | None  # initdb and the server refuse to run as root: run them as this user then

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/airflow"

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg2://postgres@{LOOPBACK}:{self.port}/airflow"

    def pg_ctl(self, *args: str, timeout: float = 120) -> None:
        options = f"-p {self.port} -c listen_addresses={LOOPBACK} -c unix_socket_directories={self.data}"
        cmd = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, *args]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, user=self.user, check=False
        )
        if done.returncode != 0:
            pytest.fail(
                f"pg_ctl {' '.join(args)} failed: {done.stdout}{done.stderr}\n{self.log.read_text()[-3000:]}"
            )

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is terminated, the server comes back on the same port."""
        self.pg_ctl("restart", "-m", "fast")


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    """Start a private cluster with an ``airflow`` database; stop it and delete it afterwards."""
    import psycopg

    if not (PG_BIN / "initdb").exists():
        pytest.fail(
            f"PostgreSQL server binaries not found under {PG_BIN}: apt-get install postgresql", pytrace=False
        )
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="mlcycle-private-pg-"))
    if user:
        shutil.chown(root, user)
    pg = PrivatePostgres(root / "data", free_port(), root / "postgres.log", user)
    subprocess.run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(pg.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        capture_output=True,
        check=True,
        user=user,
        timeout=120,
    )
    pg.pg_ctl("start")
    try:
        with psycopg.connect(
            host=LOOPBACK, port=pg.port, user="postgres", dbname="postgres", autocommit=True
        ) as c:
            c.execute("CREATE DATABASE airflow")
        yield pg
    finally:
        pg.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(root, ignore_errors=True)
