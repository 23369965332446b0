"""docker-compose.yml run for real: trained and promoted through the stack, secure by default.

The order matters and is the file's order: the image, what listens where, the credentials each
container holds, then a training run through the REST API and a two-window monitor backfill.
"""

from __future__ import annotations

import json
import time
import urllib.error
import uuid
from typing import Any

import pytest

from mlcycle.config.loader import parse_pipeline

from .conftest import ROOT, Stack

TRAIN_DAG, MONITOR_DAG = "churn__train", "churn__monitor"
TRAIN_TASKS = {"ingest", "check_data", "train", "evaluate", "validate_model", "register_and_promote"}
TRAIN_END = "2025-10-01T00:00:00+00:00"
# logical dates of two monthly monitor windows: 2026-03 and 2026-04
FROM_DATE, TO_DATE = "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"
RUN_TIMEOUT = 900
DEV_TOOLS = {
    "pytest", "pytest-timeout", "hypothesis", "ruff", "mypy", "types-pyyaml", "moto", "aiosmtpd",
    "playwright", "bandit", "pip-audit", "pyinstrument", "pre-commit",
}  # fmt: skip
CHURN_YAML = ROOT / "config" / "pipelines" / "churn.yaml"
MODEL = parse_pipeline(CHURN_YAML.read_text(), str(CHURN_YAML)).model_name


def test_the_image_holds_no_test_or_dev_tool(stack: Stack) -> None:
    listed = stack.exec("airflow-worker", "pip", "list", "--format", "json")
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(listed)}
    assert {"apache-airflow", "mlflow", "mlcycle"} <= installed
    assert installed & DEV_TOOLS == set(), sorted(installed & DEV_TOOLS)


def test_only_the_ui_is_published_on_every_interface(stack: Stack) -> None:
    published: dict[str, list[tuple[str, str]]] = {}
    for line in stack.compose("ps", "--services").split():
        ports = stack.inspect(line)["NetworkSettings"].get("Ports") or {}
        for port, bindings in ports.items():
            for b in bindings or []:
                published.setdefault(line, []).append((b["HostIp"] or "0.0.0.0", port))  # nosec B104
    assert published == {
        "airflow-apiserver": [("0.0.0.0", "8080/tcp")],  # nosec B104 - the UI, on purpose
        "mlflow": [("127.0.0.1", "5000/tcp")],
    }, published


def test_mlflow_refuses_anonymous_requests_and_admits_the_tasks_account(stack: Stack) -> None:
    search = "/api/2.0/mlflow/registered-models/search?max_results=1"
    assert stack.mlflow(search, auth=False)[0] == 401
    assert stack.mlflow(search)[0] == 200
    assert stack.mlflow("/health", auth=False)[0] == 200


def test_tasks_and_mlflow_hold_the_least_privilege_s3_pair_not_the_root_one(stack: Stack) -> None:
    root_secret, task_key = stack.dotenv["MINIO_ROOT_PASSWORD"], stack.dotenv["MLCYCLE_S3_ACCESS_KEY"]
    for service in ("airflow-worker", "airflow-scheduler", "airflow-apiserver", "mlflow"):
        env = dict(e.split("=", 1) for e in stack.inspect(service)["Config"]["Env"])
        assert root_secret not in "".join(env.values()), f"{service} holds MinIO's root password"
        assert env["AWS_ACCESS_KEY_ID"] == task_key, service
    policy = stack.exec(
        "minio",
        "/opt/moto/bin/python",
        "-c",
        "import boto3, json; iam = boto3.client('iam', endpoint_url='http://localhost:9000', "
        "region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x'); "
        f"print(json.dumps(iam.get_user_policy(UserName='{task_key}', PolicyName='mlcycle-tasks')"
        "['PolicyDocument']))",
    )
    resources = {r for s in json.loads(policy)["Statement"] for r in s["Resource"]}
    assert resources == {
        "arn:aws:s3:::mlcycle",
        "arn:aws:s3:::mlflow",
        "arn:aws:s3:::mlcycle/*",
        "arn:aws:s3:::mlflow/*",
    }


def test_the_admin_password_file_is_private(stack: Stack) -> None:
    mode = stack.exec("airflow-apiserver", "stat", "-c", "%a", "/opt/airflow/auth/passwords.json")
    assert mode.strip() == "600"


def _wait_for_dag(stack: Stack, dag_id: str) -> None:
    """The dag-processor has serialized ``dag_id`` (the API answers 404 until then)."""
    deadline = time.monotonic() + 300
    while True:
        try:
            stack.api("GET", f"/dags/{dag_id}")
            return
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                pytest.fail(
                    f"{dag_id} is not in the API ({exc.code}):\n{stack.logs('airflow-dag-processor')}"
                )
        time.sleep(5)


@pytest.fixture(scope="module")
def training_run(stack: Stack) -> dict[str, Any]:
    _wait_for_dag(stack, TRAIN_DAG)
    assert stack.api("PATCH", f"/dags/{TRAIN_DAG}", {"is_paused": False})["is_paused"] is False
    started = time.monotonic()
    run_id = f"compose__{uuid.uuid4().hex[:8]}"
    stack.api(
        "POST",
        f"/dags/{TRAIN_DAG}/dagRuns",
        {"dag_run_id": run_id, "logical_date": TRAIN_END, "conf": {"data_end": TRAIN_END}},
    )
    run = _wait(stack, lambda: [stack.api("GET", f"/dags/{TRAIN_DAG}/dagRuns/{run_id}")], TRAIN_DAG, 1)[0]
    stack.timings["training_run_s"] = time.monotonic() - started
    return dict(run)


def test_churn_trains_on_the_worker_and_mlflow_sets_champion_with_the_model_in_s3(
    stack: Stack, training_run: dict[str, Any]
) -> None:
    run_id = training_run["dag_run_id"]
    assert training_run["state"] == "success", _details(stack, TRAIN_DAG, run_id)
    tis = stack.api("GET", f"/dags/{TRAIN_DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    assert {t["task_id"]: t["state"] for t in tis} == dict.fromkeys(TRAIN_TASKS, "success")
    worker_host = stack.inspect("airflow-worker")["Config"]["Hostname"]
    assert {t["hostname"] for t in tis} == {worker_host}, [(t["task_id"], t["hostname"]) for t in tis]

    status, alias = stack.mlflow(f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=champion")
    assert status == 200, status
    version = alias["model_version"]
    assert int(version["version"]) >= 1, version  # unpausing also scheduled the latest interval's run
    keys = stack.exec(
        "minio",
        "/opt/moto/bin/python",
        "-c",
        "import boto3; s3 = boto3.client('s3', endpoint_url='http://localhost:9000', region_name='us-east-1', "
        "aws_access_key_id='x', aws_secret_access_key='x'); "
        "print('\\n'.join(o['Key'] for p in s3.get_paginator('list_objects_v2').paginate(Bucket='mlflow') "
        "for o in p.get('Contents', [])))",
    ).split()
    model_id = version.get("model_id") or ""
    assert any(k.endswith("MLmodel") and model_id in k for k in keys), (model_id, keys[:50])


def test_monitor_backfill_runs_two_windows_on_the_worker(stack: Stack, training_run: dict[str, Any]) -> None:
    assert training_run["state"] == "success", "the backfill needs the champion the training run promotes"
    _wait_for_dag(stack, MONITOR_DAG)
    assert stack.api("PATCH", f"/dags/{MONITOR_DAG}", {"is_paused": False})["is_paused"] is False
    started = time.monotonic()
    backfill = stack.api(
        "POST",
        "/backfills",
        {"dag_id": MONITOR_DAG, "from_date": FROM_DATE, "to_date": TO_DATE, "max_active_runs": 1},
    )

    def runs() -> list[dict[str, Any]]:
        found = stack.api("GET", f"/dags/{MONITOR_DAG}/dagRuns?run_type=backfill")["dag_runs"]
        return [r for r in found if r.get("run_type") == "backfill"]

    done = _wait(stack, runs, MONITOR_DAG, 2)
    stack.timings["backfill_s"] = time.monotonic() - started
    assert backfill["dag_id"] == MONITOR_DAG
    assert [r["state"] for r in done] == ["success", "success"], _details(
        stack, MONITOR_DAG, done[0]["dag_run_id"]
    )
    worker_host = stack.inspect("airflow-worker")["Config"]["Hostname"]
    for run in done:
        tis = stack.api("GET", f"/dags/{MONITOR_DAG}/dagRuns/{run['dag_run_id']}/taskInstances")[
            "task_instances"
        ]
        ran = [t for t in tis if t["state"] == "success"]
        assert ran and {t["hostname"] for t in ran} == {worker_host}, tis


def _wait(stack: Stack, fetch: Any, dag_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        runs = fetch()
        if len(runs) == count and all(r["state"] in ("success", "failed") for r in runs):
            return sorted(runs, key=lambda r: r.get("logical_date") or "")
        if time.monotonic() > deadline:
            pytest.fail(
                f"{dag_id}: runs did not finish: {[(r['dag_run_id'], r['state']) for r in runs]}\n"
                + stack.logs("airflow-scheduler", "airflow-worker")
            )
        time.sleep(5)


def _details(stack: Stack, dag_id: str, run_id: str) -> str:
    tis = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return (
        json.dumps([(t["task_id"], t["state"], t["hostname"]) for t in tis])
        + "\n"
        + stack.logs("airflow-worker")
    )
