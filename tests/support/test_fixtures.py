"""Self-tests: every fixture in ``tests.support.fixtures`` exercised against the real service."""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support.fixtures import (
    MlflowStarter,
    PostgresDatabase,
    RedisQueue,
    S3Server,
    SlackReceiver,
    SmtpServer,
    redis_queue,
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


@pytest.mark.services
def test_s3_server_round_trip(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket()
    s3 = s3_server.client()
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,b\n1,2\n")
    assert s3.get_object(Bucket=bucket, Key="raw/data.csv")["Body"].read() == b"a,b\n1,2\n"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="raw/")
    assert [o["Key"] for o in listed["Contents"]] == ["raw/data.csv"]
    assert s3_server.env()["MLFLOW_S3_ENDPOINT_URL"] == s3_server.endpoint_url


@pytest.mark.services
def test_postgres_database_is_fresh_and_usable(postgres_database: PostgresDatabase) -> None:
    import psycopg
    import sqlalchemy as sa

    with psycopg.connect(postgres_database.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO t VALUES (1, 'x')")
    engine = sa.create_engine(postgres_database.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database(), name FROM t")).one() == (
                postgres_database.name,
                "x",
            )
    finally:
        engine.dispose()


@pytest.mark.services
def test_mlflow_server_on_postgres_and_s3(
    mlflow_server: MlflowStarter, postgres_database: PostgresDatabase, s3_server: S3Server, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    bucket = s3_server.create_bucket()
    server = mlflow_server(postgres_database.url, f"s3://{bucket}/mlflow", env=s3_server.env())
    client = MlflowClient(tracking_uri=server.url)
    exp_id = client.create_experiment("fixture-selftest")
    run = client.create_run(exp_id)
    client.log_metric(run.info.run_id, "acc", 0.9)
    artifact = tmp_path / "note.txt"
    artifact.write_text("hello s3")
    client.log_artifact(run.info.run_id, str(artifact), artifact_path="notes")
    client.set_terminated(run.info.run_id)

    out = Path(client.download_artifacts(run.info.run_id, "notes/note.txt", str(tmp_path / "dl")))
    assert out.read_text() == "hello s3"
    assert client.get_run(run.info.run_id).data.metrics == {"acc": 0.9}
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith("mlflow/") and k.endswith("notes/note.txt") for k in keys), keys


def test_postgres_unreachable_fails_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import fixtures

    monkeypatch.setattr(fixtures, "PG_PORT", fixtures.free_port())  # nothing listens there
    with pytest.raises(pytest.fail.Exception, match=r"(?s)127\.0\.0\.1:\d+.*pg_ctlcluster --skip-systemctl"):
        fixtures._pg_admin()


@pytest.mark.services
def test_mlflow_server_early_exit_shows_log(mlflow_server: MlflowStarter, tmp_path: Path) -> None:
    with pytest.raises(
        pytest.fail.Exception, match=r"(?s)exited with code 1.*unsupported URI 'nonsense://x'"
    ):
        mlflow_server("nonsense://x", str(tmp_path / "artifacts"), timeout=60)


@pytest.mark.services
def test_redis_queues_are_unique_and_removed_afterwards(redis_broker: RedisQueue) -> None:
    import redis

    client = redis.Redis.from_url(redis_broker.url)
    with redis_queue() as other:
        assert other.queue != redis_broker.queue and other.url == redis_broker.url
        client.lpush(other.queue, b"message")
        assert client.llen(other.queue) == 1
    assert client.exists(other.queue) == 0


def test_simple_auth_env_keeps_the_password_in_a_private_file(tmp_path: Path) -> None:
    env = simple_auth_env(tmp_path / "home", "alice", "s3cret-pw")
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    assert json.loads(passwords.read_text()) == {"alice": "s3cret-pw"}
    assert passwords.stat().st_mode & 0o777 == 0o600
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "alice:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert not any("s3cret-pw" in v for v in env.values())
