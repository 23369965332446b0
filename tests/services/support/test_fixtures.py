"""Self-tests: every service-backed fixture in ``tests.support.fixtures`` (moto S3, PostgreSQL, the
mlflow server, Redis) exercised against the real service. The in-process ones:
tests/integration/support/test_fixtures.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fixtures import (
    MlflowStarter,
    PostgresDatabase,
    RedisQueue,
    S3Server,
    redis_queue,
)


def test_s3_server_round_trip(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket()
    s3 = s3_server.client()
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,b\n1,2\n")
    assert s3.get_object(Bucket=bucket, Key="raw/data.csv")["Body"].read() == b"a,b\n1,2\n"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="raw/")
    assert [o["Key"] for o in listed["Contents"]] == ["raw/data.csv"]
    assert s3_server.env()["MLFLOW_S3_ENDPOINT_URL"] == s3_server.endpoint_url


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


def test_mlflow_server_early_exit_shows_log(mlflow_server: MlflowStarter, tmp_path: Path) -> None:
    with pytest.raises(
        pytest.fail.Exception, match=r"(?s)exited with code 1.*unsupported URI 'nonsense://x'"
    ):
        mlflow_server("nonsense://x", str(tmp_path / "artifacts"), timeout=60)


def test_redis_queues_are_unique_and_removed_afterwards(redis_broker: RedisQueue) -> None:
    import redis

    client = redis.Redis.from_url(redis_broker.url)
    with redis_queue() as other:
        assert other.queue != redis_broker.queue and other.url == redis_broker.url
        client.lpush(other.queue, b"message")
        assert client.llen(other.queue) == 1
    assert client.exists(other.queue) == 0
