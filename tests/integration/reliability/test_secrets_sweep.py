"""Canary secrets (issue 6, scenario 18): every secret of the package's sandbox is one unique string.

The SMTP password, the Slack webhook token, an unused PostgreSQL connection, the AWS connection and
AWS_SECRET_ACCESS_KEY all carry the canary (conftest.py). The training and monitoring runs of this
package (successes and failures that notified) all ran inside that sandbox; this module, collected
after them, adds one failure of its own and then searches everything they left for the canary. Each
place must have been read and be non-empty: a sweep that reads nothing would pass falsely.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import boto3
from sqlalchemy import text

from mlcycle.airflow.devrun import run_training
from mlcycle.config.settings import load_settings

from .conftest import LOGICAL_DATE, MODEL, Sandbox, registry, task_output_log


def _found(canary: str, blobs: dict[str, bytes]) -> list[str]:
    return [where for where, data in blobs.items() if canary.encode() in data]


def test_the_canary_secret_appears_nowhere(champion, sandbox: Sandbox, pipeline, capfd) -> None:
    canary = sandbox.canary
    # a failure of our own that notifies: boto3 signs with the canary key against a missing bucket
    name = pipeline("rel_canary_failure", f"s3://{sandbox.bucket}-absent/landing/*.parquet")
    before = sandbox.notifications()
    failed = run_training(name, logical_date=LOGICAL_DATE)
    assert failed.state == "failed" and failed.task_states["ingest"] == "failed", failed.task_states
    assert sandbox.notifications() == (before[0] + 1, before[1] + 1)
    own_output = capfd.readouterr()

    # the canary really was in use: SMTP logged in with it, Slack was posted to with it, boto3 signs with it
    assert ("mlcycle", canary) in sandbox.logins
    assert all(r.path.endswith(f"/T000/B000/{canary}") for r in sandbox.slack.requests)
    assert boto3.session.Session().get_credentials().secret_key == canary

    # 1. task logs: every reliability test's captured output (dag.test runs tasks in-process) + ours
    logs = task_output_log().read_text() if task_output_log().exists() else ""
    logs += own_output.out + own_output.err
    assert "rel_champion__train" in logs and "DataSourceError" in logs, (
        "no task output was captured to sweep (is pytest running with -s?)"
    )
    assert canary not in logs, logs[max(0, logs.find(canary) - 500) : logs.find(canary) + 200]

    # 2. XCom values and rendered templates in the Airflow metadata DB
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = session.execute(text("SELECT dag_id, task_id, run_id, value FROM xcom")).all()
        rendered = session.execute(
            text("SELECT dag_id, task_id, rendered_fields FROM rendered_task_instance_fields")
        ).all()
        confs = session.execute(text("SELECT dag_id, run_id, conf FROM dag_run")).all()
    assert any(r[0] == "rel_champion__train" for r in xcoms), "no XCom of the champion's run to sweep"
    metadata = {f"xcom {r[0]}.{r[1]} {r[2]}": str(r[3]).encode() for r in xcoms}
    metadata |= {f"rendered {r[0]}.{r[1]}": str(r[2]).encode() for r in rendered}
    metadata |= {f"conf {r[0]} {r[1]}": str(r[2]).encode() for r in confs}
    assert _found(canary, metadata) == []

    # 3. MLflow: params, tags, metrics' names and every artifact file of every run of this package
    client = registry()
    experiments = [e for e in client.search_experiments() if e.name.startswith("mlcycle/rel_")]
    runs = [r for e in experiments for r in client.search_runs([e.experiment_id])]
    assert runs and all(r.data.params for r in runs if "train" in r.data.tags.get("airflow.dag_id", ""))
    mlflow_blobs: dict[str, bytes] = {}
    for run in runs:
        mlflow_blobs[f"run {run.info.run_id} params"] = repr(run.data.params).encode()
        mlflow_blobs[f"run {run.info.run_id} tags"] = repr(run.data.tags).encode()
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(client.download_artifacts(run.info.run_id, "", tmp))
            for f in local.rglob("*"):
                if f.is_file():
                    mlflow_blobs[f"run {run.info.run_id} artifact {f.relative_to(local)}"] = f.read_bytes()
    model = client.get_registered_model(MODEL)
    mlflow_blobs["registered model tags"] = repr(model.tags).encode()
    for v in client.search_model_versions(f"name = '{MODEL}'"):
        mlflow_blobs[f"version {v.version} tags"] = repr(v.tags).encode()
    assert sum(" artifact " in k for k in mlflow_blobs) > 10, list(mlflow_blobs)
    assert _found(canary, mlflow_blobs) == []

    # 4. published records, snapshots, model cards and reports in the S3 artifact store
    s3 = sandbox.s3.client()
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sandbox.bucket)
        for o in page.get("Contents", [])
    ]
    published = {k: s3.get_object(Bucket=sandbox.bucket, Key=k)["Body"].read() for k in keys}
    assert any(k.endswith("model_card.md") for k in keys) and any(
        k.endswith("data_checks.json") for k in keys
    )
    assert _found(canary, published) == []

    # 5. every email (headers and body) and every Slack body received
    messages = {f"email {i} {m.subject}": m.message.as_bytes() for i, m in enumerate(sandbox.smtp.messages)}
    messages |= {f"slack {i}": r.body for i, r in enumerate(sandbox.slack.requests)}
    assert len(sandbox.smtp.messages) >= 2 and len(sandbox.slack.requests) >= 2
    assert _found(canary, messages) == []

    # 6. and every file the runs left on disk: Airflow home (metadata DB), MLflow store, MLCYCLE_HOME
    roots = {Path(os.environ["AIRFLOW_HOME"]), load_settings().home}
    files = {str(f): f.read_bytes() for root in roots for f in root.rglob("*") if f.is_file()}
    assert any(f.endswith("airflow.db") for f in files) and any(f.endswith("mlflow.db") for f in files)
    assert _found(canary, files) == []
