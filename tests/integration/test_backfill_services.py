"""A backfill of the monitoring DAG on a real scheduler: PostgreSQL metadata, ``airflow api-server``,
``scheduler`` (LocalExecutor) and ``dag-processor`` as separate processes, MLflow behind a real
``mlflow server`` on PostgreSQL. Backfilled drifted months are scored and judged but never retrain.

Only backfill runs exist here: the scheduler's cron scheduling is off (``use_job_schedule``), since
unpausing the monitor (which the scheduler requires before it runs any task of a DAG, backfills
included) would otherwise also start a run for the latest month.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mlflow import MlflowClient

from mlcycle.demo import write_demo_data
from mlcycle.ingest import record_key
from tests.support.fixtures import (
    AirflowStack,
    AirflowStarter,
    MlflowStarter,
    airflow_service_env,
    create_database,
    free_port,
    run_airflow,
    run_module,
    stop_process_group,
)

pytestmark = [pytest.mark.integration, pytest.mark.services]

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = "svc_mon"
TRAIN_DAG, MONITOR_DAG = f"{PIPELINE}__train", f"{PIPELINE}__monitor"
TRAIN_DATE = "2025-10-01"  # trains on 2025-01..09; the demo data drifts from 2026-01
# logical date = the start of the monthly data interval; --to-date is an inclusive logical date
FROM_DATE, TO_DATE = "2026-03-01", "2026-05-01"
WINDOWS = [
    (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
    (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)),
    (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)),
]
MONITOR_TASKS = ("load_window", "score", "detect_drift", "decide", "act")
BACKFILL_TIMEOUT = 600


def _mlcycle(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_module("mlcycle.cli", args, env, cwd)


def _monitor_runs(db_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(
            "SELECT run_id, run_type, state, logical_date, data_interval_start, data_interval_end, backfill_id "
            "FROM dag_run WHERE dag_id = %s ORDER BY logical_date",
            (MONITOR_DAG,),
        )
        names = [c.name for c in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _task_states(db_url: str, run_id: str) -> dict[str, str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = %s AND run_id = %s",
            (MONITOR_DAG, run_id),
        ).fetchall()
    return {task: str(state) for task, state in rows}


def _backfill_done(db_url: str) -> bool:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT completed_at FROM backfill WHERE dag_id = %s", (MONITOR_DAG,)).fetchall()
    return len(rows) == 1 and rows[0][0] is not None


def _wait_for_backfill(stack: AirflowStack, db_url: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + BACKFILL_TIMEOUT
    while True:
        runs = _monitor_runs(db_url)
        finished = [r for r in runs if r["state"] in ("success", "failed")]
        if len(runs) == len(WINDOWS) and len(finished) == len(runs) and _backfill_done(db_url):
            return runs
        if stack.dead() or time.monotonic() > deadline:
            why = f"service(s) exited: {', '.join(stack.dead())}" if stack.dead() else "timed out"
            stack.fail(
                f"backfill of {MONITOR_DAG} did not finish ({why} after {BACKFILL_TIMEOUT}s budget): "
                f"{[(r['run_id'], r['state']) for r in runs]}\n{stack.task_log_tails(MONITOR_DAG)}"
            )
        time.sleep(2)


def test_backfill_of_monitor_dag_judges_drift_but_never_retrains(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_pipeline: Callable[..., str],
    mlflow_server: MlflowStarter,
    airflow_stack: AirflowStarter,
) -> None:
    home, config_dir, data_root = tmp_path / "home", tmp_path / "pipelines", tmp_path / "data"
    config_dir.mkdir()
    write_demo_data(data_root / "data" / "demo" / "churn", rows=12_000, seed=7)
    model_name = f"svc_mon_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLCYCLE_CONFIG_DIR", str(config_dir))  # where write_pipeline writes
    write_pipeline(
        PIPELINE,
        {
            "registry": {"model_name": model_name},
            "notifications": {"events": ["failure"], "slack_conn_id": None, "email": []},
            "monitoring": {
                "schedule": "@monthly",
                "min_rows": 300,
                "retrain": {"enabled": True, "min_drifted_windows": 1, "of_last_windows": 1},
            },
        },
    )

    with ExitStack() as cleanup:
        airflow_db = cleanup.enter_context(create_database())
        mlflow_db = cleanup.enter_context(create_database())
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MLCYCLE_", "AIRFLOW", "MLFLOW_"))},
            **airflow_service_env(
                tmp_path / "airflow",
                airflow_db.sqlalchemy_url,
                free_port(),
                dags_folder=ROOT / "dags",
                plugins_folder=ROOT / "plugins",
            ),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "MLCYCLE_HOME": str(home),
            "MLCYCLE_CONFIG_DIR": str(config_dir),
            "MLCYCLE_DATA_ROOT": str(data_root),
            "MLCYCLE_PROJECT_ROOT": str(ROOT),
        }
        # both migrations take tens of seconds on PostgreSQL: Airflow's runs while MLflow's server starts
        migrate_log = tmp_path / "airflow-db-migrate.log"
        with migrate_log.open("wb") as out:
            migrate = subprocess.Popen(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tmp_path,
                start_new_session=True,
            )
        cleanup.callback(stop_process_group, migrate, 5)
        server = mlflow_server(mlflow_db.sqlalchemy_url, str(tmp_path / "mlflow-artifacts"))
        cleanup.callback(server.stop)  # before its database is dropped
        env["MLFLOW_TRACKING_URI"] = server.url
        assert migrate.wait(timeout=300) == 0, migrate_log.read_text()[-5000:]

        trained = _mlcycle(["run", PIPELINE, "--logical-date", TRAIN_DATE], env, tmp_path)
        assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-5000:]
        assert f"{model_name} v1: promoted to champion" in trained.stdout, trained.stdout[-3000:]
        registry = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
        champion = registry.get_model_version_by_alias(model_name, "champion")

        stack = airflow_stack(env)
        cleanup.callback(stack.stop)  # before the metadata database is dropped
        stack.wait_for_dags([TRAIN_DAG, MONITOR_DAG])
        train_runs_before = stack.api("GET", f"/dags/{TRAIN_DAG}/dagRuns")["dag_runs"]
        assert [r["run_type"] for r in train_runs_before] == ["manual"]  # the dag.test() run above
        # the scheduler runs no task of a paused DAG, backfill or not; the training DAG stays paused
        assert stack.api("GET", f"/dags/{TRAIN_DAG}")["is_paused"] is True
        assert stack.api("PATCH", f"/dags/{MONITOR_DAG}", {"is_paused": False})["is_paused"] is False

        backfill = [
            "backfill",
            "create",
            "--dag-id",
            MONITOR_DAG,
            "--from-date",
            FROM_DATE,
            "--to-date",
            TO_DATE,
        ]
        created = run_airflow(env, *backfill, "--max-active-runs", "1", cwd=tmp_path)
        assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-5000:]
        runs = _wait_for_backfill(stack, airflow_db.url)

        def details() -> str:
            return f"{stack.task_log_tails(MONITOR_DAG, lines=40)}\n{stack.log_tails(40)}"

        assert [(r["data_interval_start"], r["data_interval_end"]) for r in runs] == WINDOWS, runs
        assert {r["run_type"] for r in runs} == {"backfill"}, runs
        assert [r["state"] for r in runs] == ["success"] * len(WINDOWS), f"{runs}\n{details()}"

        artifacts = home / "artifacts"
        for run in runs:
            states = _task_states(airflow_db.url, run["run_id"])
            assert {t: states.get(t) for t in MONITOR_TASKS} == dict.fromkeys(MONITOR_TASKS, "success"), (
                states
            )
            assert states.get("trigger_retrain") == "skipped", f"{states}\n{details()}"

            def record(name: str, run_id: str = run["run_id"]) -> dict[str, Any]:
                return json.loads((artifacts / record_key(MONITOR_DAG, run_id, name)).read_text())

            window = record("window.json")
            assert datetime.fromisoformat(window["window_start"]) == run["data_interval_start"], window
            assert datetime.fromisoformat(window["window_end"]) == run["data_interval_end"], window
            assert window["status"] == "loaded" and window["rows"] >= 300, window
            assert record("score.json")["model_version"] == champion.version
            decision = record("decision.json")
            assert decision["status"] == "drift", (run["run_id"], decision)
            action = record("action.json")
            assert action["is_backfill"] is True, action
            assert action["retrain"] is False and action["alert"] is False, action
            # the backfill is the only thing that held the retrain back: 1 of 1 windows drifted
            assert [r for r in action["reasons"] if r.startswith("retrain")] == [
                "retrain: not triggered, backfill run (set monitoring.retrain.on_backfill or the allow_retrain param)"
            ], action["reasons"]

        # the backfill requested no retrain: no new training run, the champion did not move
        train_runs = stack.api("GET", f"/dags/{TRAIN_DAG}/dagRuns")["dag_runs"]
        assert [r["dag_run_id"] for r in train_runs] == [r["dag_run_id"] for r in train_runs_before], (
            train_runs
        )
        assert registry.get_model_version_by_alias(model_name, "champion").version == champion.version
        assert len(registry.search_model_versions(f"name = '{model_name}'")) == 1
