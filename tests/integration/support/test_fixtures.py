"""Self-tests of the in-process loopback fixtures in ``tests.support.fixtures`` (SMTP server, Slack
receiver) and of its helpers that need no service. The service-backed fixtures are exercised in
tests/services/support/test_fixtures.py."""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support.fixtures import (
    SlackReceiver,
    SmtpServer,
    simple_auth_env,
)


def _post(url: str, payload: dict[str, object]) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_smtp_server_receives_email(smtp_server: SmtpServer) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "airflow@example.com", "ops@example.com", "Task failed"
    msg.set_content("train_model failed\n")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.send_message(msg)
    (got,) = smtp_server.wait_for(1)
    assert (got.from_, got.to, got.subject) == ("airflow@example.com", "ops@example.com", "Task failed")
    assert got.envelope_to == ["ops@example.com"]
    assert got.body.strip() == "train_model failed"
    conn = json.loads(smtp_server.airflow_conn_env()["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert conn["port"] == smtp_server.port
    assert conn["extra"] == {"disable_ssl": True, "disable_tls": True, "from_email": "airflow@example.com"}


def test_smtp_wait_for_times_out_clearly(smtp_server: SmtpServer) -> None:
    with pytest.raises(AssertionError, match=r"expected 1 message\(s\) within 0.2s, got 0"):
        smtp_server.wait_for(1, timeout=0.2)


def test_slack_receiver_records_posts_and_status(slack_receiver: SlackReceiver) -> None:
    conn = json.loads(slack_receiver.airflow_conn_env()["AIRFLOW_CONN_SLACK_DEFAULT"])
    webhook = f"{conn['host']}/{conn['password']}"
    assert _post(webhook, {"text": "hello"}) == (200, b"ok")
    slack_receiver.respond_with(500)
    assert _post(webhook, {"text": "boom"})[0] == 500
    first, second = slack_receiver.wait_for(2)
    assert first.path == "/services/T000/B000/XXXX"
    assert first.json == {"text": "hello"} and second.json == {"text": "boom"}
    assert first.headers["Content-Type"] == "application/json"
    assert "AIRFLOW_CONN_ALERTS" in slack_receiver.airflow_conn_env(conn_id="alerts")


def test_postgres_unreachable_fails_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import fixtures

    monkeypatch.setattr(fixtures, "PG_PORT", fixtures.free_port())  # nothing listens there
    with pytest.raises(pytest.fail.Exception, match=r"(?s)127\.0\.0\.1:\d+.*pg_ctlcluster --skip-systemctl"):
        fixtures._pg_admin()


def test_simple_auth_env_keeps_the_password_in_a_private_file(tmp_path: Path) -> None:
    env = simple_auth_env(tmp_path / "home", "alice", "s3cret-pw")
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    assert json.loads(passwords.read_text()) == {"alice": "s3cret-pw"}
    assert passwords.stat().st_mode & 0o777 == 0o600
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "alice:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert not any("s3cret-pw" in v for v in env.values())
