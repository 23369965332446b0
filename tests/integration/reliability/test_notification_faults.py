"""Issue 6, scenario 14: Slack answering 500, or the SMTP server refusing the message.

A training run that fails (its source matches nothing) must still end ``failed`` with the right
task states, the channel that works must deliver its one notification, and the webhook URL and its
token must appear in no log: not in the task logs under ``$AIRFLOW_HOME/logs``, not in anything
written to stdout/stderr or through ``logging`` during the run.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.reliability.conftest import SLACK_TOKEN, notifying, text_of_logs
from tests.support.fixtures import LOOPBACK, SlackReceiver, SmtpServer, free_port


class _RefusingHandler:
    """An SMTP server that refuses every recipient, as a relay that will not accept our mail."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.refused.append(address)
        return "550 5.7.1 relaying denied"


@pytest.fixture
def refusing_smtp() -> Iterator[tuple[SmtpServer, _RefusingHandler]]:
    from aiosmtpd.controller import Controller

    server = SmtpServer(host=LOOPBACK, port=free_port())
    handler = _RefusingHandler()
    controller = Controller(handler, hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server, handler
    finally:
        controller.stop()


def _run_failing(
    write_pipeline: Callable[..., str],
    name: str,
    smtp: SmtpServer,
    slack: SlackReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Run a training DAG whose source matches nothing; assert it failed in ingest, cleanly."""
    from mlcycle.airflow.devrun import _test_run, prepare_airflow
    from mlcycle.airflow.factory import build_training_dag
    from mlcycle.config.loader import find_pipeline

    for key, value in {**smtp.airflow_conn_env(), **slack.airflow_conn_env()}.items():
        monkeypatch.setenv(key, value)
    caplog.set_level(logging.DEBUG)
    pipeline = write_pipeline(
        name, notifying(f"{name}_model", retries=0, data={"source": f"missing/{name}/*.parquet"})
    )
    prepare_airflow()
    dr = _test_run(build_training_dag(find_pipeline(pipeline)), datetime(2026, 1, 1, tzinfo=UTC), None)
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert str(dr.state) == "failed", states
    assert states.pop("ingest") == "failed"
    assert set(states.values()) == {"upstream_failed"}, states


def _everything_logged(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, task_logs: Path
) -> list[str]:
    """stdout, stderr, every log record (with its traceback) and every task log file of the run."""
    out, err = capfd.readouterr()
    records = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    return [out, err, records, text_of_logs(task_logs)]


def _said_once(logged: list[str], channel: str, conn: str) -> str:
    """The one log line saying ``channel`` failed; dag.test's task log reaches either stdout or the
    log records (both captured), never twice in either."""
    pattern = rf"mlcycle notification NOT sent via {channel} \(connection {conn}\): .*"
    found = [re.findall(pattern, text) for text in (logged[0], logged[2])]
    assert all(len(f) <= 1 for f in found) and any(found), found
    return next(f[0] for f in found if f)


def _assert_no_secret(slack: SlackReceiver, *texts: str) -> None:
    for secret in (SLACK_TOKEN, f"{slack.url}/services/{SLACK_TOKEN}"):
        for text in texts:
            assert secret not in text, (
                f"{secret!r} leaked: ...{text[max(0, text.find(secret) - 300) :][:600]}"
            )


def test_slack_500_still_emails_and_leaks_no_webhook(
    smtp_server: SmtpServer,
    slack_receiver: SlackReceiver,
    write_pipeline: Callable[..., str],
    task_logs: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack_receiver.respond_with(500)

    _run_failing(write_pipeline, "slack500", smtp_server, slack_receiver, monkeypatch, caplog)

    [email] = smtp_server.wait_for(1)
    [post] = slack_receiver.wait_for(1)  # tried once, answered 500
    time.sleep(1)
    assert len(smtp_server.messages) == 1 and len(slack_receiver.requests) == 1
    assert "slack500__train" in email.subject and "ingest" in email.subject
    assert "missing/slack500/*.parquet" in html.unescape(email.body)
    assert "task: ingest" in post.json["text"]
    logged = _everything_logged(capfd, caplog, task_logs)
    # the task's log says which channel failed, through which connection and why, once
    said = _said_once(logged, "slack", "slack_default")
    assert "Status Code: 500" in said, said
    _assert_no_secret(slack_receiver, *logged, email.body)


def test_smtp_refusing_still_posts_to_slack_and_leaks_no_webhook(
    refusing_smtp: tuple[SmtpServer, _RefusingHandler],
    slack_receiver: SlackReceiver,
    write_pipeline: Callable[..., str],
    task_logs: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp, refusing = refusing_smtp

    _run_failing(write_pipeline, "smtp550", smtp, slack_receiver, monkeypatch, caplog)

    [post] = slack_receiver.wait_for(1)
    time.sleep(1)
    assert len(slack_receiver.requests) == 1
    assert "task: ingest" in post.json["text"] and "smtp550__train" in post.json["text"]
    assert refusing.refused and set(refusing.refused) == {"oncall@example.com"}
    assert smtp.messages == []
    logged = _everything_logged(capfd, caplog, task_logs)
    assert "relaying denied" in _said_once(logged, "email", "smtp_default")  # which channel and why, once
    _assert_no_secret(slack_receiver, *logged, post.body.decode())
