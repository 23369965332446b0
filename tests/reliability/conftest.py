"""Fixtures for the reliability suite: the integration tier's demo data and pipeline writer, and
notification channels wired as Airflow connections."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import data_root, demo_dir, write_pipeline  # noqa: F401  (fixtures)
from tests.support.fixtures import LOOPBACK, SlackReceiver, SmtpServer, free_port

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
