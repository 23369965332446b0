"""Issue 6, scenarios 9 and 13, under a real scheduler: api-server, scheduler and dag-processor
(LocalExecutor) on a private PostgreSQL metadata DB, MLflow on a SQLite store, one stack for both.

- 9: the train task's process (the ``pid`` Airflow records for the running task instance) is
  SIGKILLed once its MLflow run is RUNNING; Airflow retries it. One model version, from the try
  that succeeded; nothing from the killed try is registered or promoted; no failure notification.
- 13: the metadata DB is restarted (``pg_ctl restart -m fast``, every session cut) while train runs.
  The run ends, success or a clean failure, within a bounded wait; no task instance stays running.
  The scheduler and the dag-processor exit on the lost connection (measured: both exit 1); the
  test starts them again as the deployment's supervisor would (``restart: always``), and the run
  completes: the running task survives (it reaches the DB only through the api-server).

``dag.test()`` runs tasks in the test's own process, so neither fault can be staged with it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import yaml
from mlflow import MlflowClient

from mlcycle.cli.demo import write_demo_data
from tests.integration.reliability.conftest import PrivatePostgres
from tests.support.fixtures import (
    LOOPBACK,
    AirflowStack,
    SlackReceiver,
    _airflow_commands,
    _slack_handler,
    airflow_service_env,
    free_port,
    run_airflow,
    spawn,
    start_airflow_stack,
)

ROOT = Path(__file__).resolve().parents[3]
PIPELINE = "faults"
DAG_ID = f"{PIPELINE}__train"
TRAIN_END = "2025-10-01T00:00:00+00:00"
UNFINISHED = ("running", "queued", "scheduled", "up_for_retry", "restarting", "deferred", "up_for_reschedule")
WAIT = 600


@dataclass
class Stack:
    airflow: AirflowStack
    pg: PrivatePostgres
    slack: SlackReceiver
    tracking_uri: str
    model: str
    restarts: list[str] = field(default_factory=list)

    def supervise(self) -> None:
        """Start again any service that exited, as the deployment's process supervisor does
        (``restart: always`` in docker-compose.yml, a Deployment in Kubernetes)."""
        commands = _airflow_commands(self.airflow.env, triggerer=False)
        for proc in self.airflow.processes:
            if proc.process.poll() is not None:
                self.restarts.append(f"{proc.name} (exit {proc.process.returncode})")
                log = proc.log_path.with_suffix(f".restart{len(self.restarts)}.log")
                cmd = [sys.executable, "-m", "airflow", *commands[proc.name]]
                proc.process = spawn(cmd, self.airflow.env, log, cwd=self.airflow.log_dir)
                proc.log_path = log

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Read the metadata DB; tolerates the moments the DB is restarting."""
        for _ in range(60):
            try:
                with psycopg.connect(self.pg.url, connect_timeout=5) as conn:
                    cur = conn.execute(sql, args)
                    names = [c.name for c in cur.description or []]
                    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            except psycopg.OperationalError:
                time.sleep(1)
        raise AssertionError(f"metadata DB on port {self.pg.port} unreachable for 60 s")

    def mlflow(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def trigger(self, logical_date: str) -> str:
        run_id = f"faults__{uuid.uuid4().hex[:8]}"
        self.airflow.api(
            "POST",
            f"/dags/{DAG_ID}/dagRuns",
            {"dag_run_id": run_id, "logical_date": logical_date, "conf": {"data_end": TRAIN_END}},
        )
        return run_id

    def train_pid_once_logging(self, run_id: str) -> int:
        """The pid of the running train task, once its MLflow run is RUNNING."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            rows = self.query(
                "SELECT pid, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s "
                "AND task_id = 'train' AND state = 'running' AND pid IS NOT NULL",
                DAG_ID,
                run_id,
            )
            if rows and self.mlflow_runs(run_id, "RUNNING"):
                return int(rows[0]["pid"])
            if self.airflow.dead():
                self.airflow.fail(f"services exited: {self.airflow.dead()}")
            time.sleep(0.5)
        self.airflow.fail(f"train of {run_id} never ran\n{self.airflow.task_log_tails(DAG_ID)}")
        raise AssertionError("unreachable")

    def mlflow_runs(self, run_id: str, status: str | None = None) -> list[Any]:
        exp = self.mlflow().get_experiment_by_name(f"mlcycle/{PIPELINE}")
        if exp is None:
            return []
        flt = f"tags.`airflow.run_id` = '{run_id}'" + (
            f" and attributes.status = '{status}'" if status else ""
        )
        return list(self.mlflow().search_runs([exp.experiment_id], flt))

    def wait_finished(self, run_id: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)
            if rows and rows[0]["state"] in ("success", "failed"):
                return str(rows[0]["state"])
            self.supervise()
            time.sleep(2)
        self.airflow.fail(f"{run_id} still not finished after {WAIT}s\n{self.airflow.task_log_tails(DAG_ID)}")
        raise AssertionError("unreachable")

    def versions(self) -> list[Any]:
        return list(self.mlflow().search_model_versions(f"name = '{self.model}'"))

    def champion(self) -> str | None:
        try:
            return str(self.mlflow().get_model_version_by_alias(self.model, "champion").version)
        except Exception:
            return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, private_postgres: PrivatePostgres) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("scheduler-faults")
    demo = work / "demo"
    write_demo_data(demo, rows=12_000, seed=7)
    model = f"faults_{uuid.uuid4().hex[:8]}"
    cfg = yaml.safe_load((ROOT / "config" / "pipelines" / "churn.yaml").read_text())
    cfg.update(
        retries=1,
        retry_delay_minutes=0.02,
        registry={"model_name": model},
        notifications={"events": ["failure"], "slack_conn_id": "slack_default", "email": []},
    )
    cfg["data"]["source"] = f"{demo}/*.parquet"
    (work / "pipelines").mkdir()
    (work / "pipelines" / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))

    slack = SlackReceiver(LOOPBACK, free_port())
    httpd = ThreadingHTTPServer((slack.host, slack.port), _slack_handler(slack))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()

    tracking = f"sqlite:///{work / 'mlflow.db'}"
    # create the store's tables now: the test's own MLflow reads must not race the task's first use
    MlflowClient(tracking_uri=tracking).search_experiments()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLCYCLE_", "AIRFLOW", "MLFLOW_"))},
        **airflow_service_env(
            work / "airflow", private_postgres.sqlalchemy_url, free_port(), dags_folder=ROOT / "dags"
        ),
        **slack.airflow_conn_env(),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only our triggered runs
        "MLCYCLE_HOME": str(work / "home"),
        "MLCYCLE_DATA_ROOT": str(work),  # the demo data is written under work (sources are confined)
        "MLCYCLE_CONFIG_DIR": str(work / "pipelines"),
        "MLCYCLE_PROJECT_ROOT": str(ROOT),
        "MLFLOW_TRACKING_URI": tracking,
    }
    migrated = run_airflow(env, "db", "migrate", timeout=300, cwd=work)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    airflow = start_airflow_stack(env, work / "airflow-logs", timeout=240)
    try:
        airflow.wait_for_dags([DAG_ID], timeout=240)
        assert airflow.api("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})["is_paused"] is False
        yield Stack(airflow, private_postgres, slack, tracking, model)
    finally:
        airflow.stop()
        httpd.shutdown()
        httpd.server_close()


def test_sigkilled_training_is_retried_and_registers_once(stack: Stack) -> None:
    run_id = stack.trigger("2025-10-01T00:00:00+00:00")
    pid = stack.train_pid_once_logging(run_id)
    assert "airflow" in " ".join(psutil.Process(pid).cmdline()), psutil.Process(pid).cmdline()
    os.kill(pid, signal.SIGKILL)

    state = stack.wait_finished(run_id)

    assert state == "success", stack.airflow.task_log_tails(DAG_ID)
    [train] = stack.query(
        "SELECT state, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = 'train'",
        DAG_ID,
        run_id,
    )
    assert train == {"state": "success", "try_number": 2}, train
    [first_try] = stack.query(
        "SELECT state FROM task_instance_history WHERE dag_id = %s AND run_id = %s AND task_id = 'train'",
        DAG_ID,
        run_id,
    )
    assert first_try["state"] in ("failed", "up_for_retry"), first_try
    runs = {r.data.tags["airflow.try_number"]: r for r in stack.mlflow_runs(run_id)}
    assert set(runs) == {"1", "2"}, runs
    assert runs["2"].info.status == "FINISHED"
    [version] = stack.versions()
    assert version.run_id == runs["2"].info.run_id, "the version comes from the try that succeeded"
    assert stack.champion() == str(version.version)
    assert stack.slack.requests == [], "a retried, then successful, run sends no failure notification"


def test_metadata_db_restart_mid_run_ends_cleanly(stack: Stack) -> None:
    champion, versions = stack.champion(), len(stack.versions())
    posts = len(stack.slack.requests)
    run_id = stack.trigger("2025-10-02T00:00:00+00:00")
    stack.train_pid_once_logging(run_id)
    stack.pg.restart()

    state = stack.wait_finished(run_id)

    stuck = stack.query(
        "SELECT task_id, state FROM task_instance WHERE dag_id = %s AND state = ANY(%s)",
        DAG_ID,
        list(UNFINISHED),
    )
    assert stuck == [], stuck
    assert stack.query("SELECT run_id FROM dag_run WHERE state = 'running'") == []
    if state == "success":
        made = [v for v in stack.versions() if v.tags.get("airflow.run_id") == run_id]
        assert len(made) == 1 and len(stack.versions()) == versions + 1, made
    else:
        assert stack.champion() == champion and len(stack.versions()) == versions
        assert len(stack.slack.wait_for(posts + 1)) == posts + 1
    print(f"\nmetadata DB restart mid-run: run {state}; services restarted: {stack.restarts}")
