"""Fixtures for the reliability suite: the integration tier's demo data and pipeline writer, and
notification channels wired as Airflow connections."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import data_root, demo_dir, write_pipeline  # noqa: F401  (fixtures)
from tests.support.fixtures import SlackReceiver, SmtpServer

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
