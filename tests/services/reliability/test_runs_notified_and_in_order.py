"""Issue 16 under a real scheduler (api-server, scheduler, dag-processor; LocalExecutor on a private
PostgreSQL metadata DB; MLflow on a SQLite store; Slack and SMTP receivers on loopback).

- Measured 1: a training run triggered through the REST API with ``"logical_date": null`` and a
  retrain the drift monitor triggers (``TriggerDagRunOperator``, no logical date) both fail; each
  sends exactly one Slack message and one e-mail naming the DAG, task, run, trigger and the error.
- Measured 2 and 3: a backfill of four monitor windows with drift in windows 2 and 3 (created by
  ``mlcycle backfill``, one active run) makes the same decisions (alerts, retrains, guard counts)
  as the same four windows run one by one by a second, identical pipeline.

The windows' data is built so that exactly windows 2 and 3 drift: window 1 and 4 are re-stamped
copies of months the champion trained on, 2 and 3 of the demo's most drifted month.
"""

from __future__ import annotations

import html
import json
import os
import subprocess  # nosec B404
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
import yaml
from mlflow import MlflowClient

from mlcycle.cli.demo import write_demo_data
from mlcycle.core.names import Record, record_key
from tests.integration.reliability.conftest import PrivatePostgres
from tests.support.fixtures import (
    LOOPBACK,
    AirflowStack,
    SlackReceiver,
    SmtpServer,
    _slack_handler,
    airflow_service_env,
    free_port,
    run_airflow,
    start_airflow_stack,
)

ROOT = Path(__file__).resolve().parents[3]
TRAIN_DATE = "2025-10-01T00:00:00+00:00"
WINDOW_STARTS = ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]  # backfill logical dates
WINDOW_ENDS = ["2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01"]  # the same windows, by their end
WAIT = 900
# three trainings and eight monitor runs under one scheduler: well over the suite's 900 s default on a
# shared 2-core machine (the module's stack is set up inside the first test's time)
pytestmark = pytest.mark.timeout(3000)


def _restamp(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    """``frame`` (one month of rows) moved into ``month``, keeping each row's offset in its month."""
    start = frame["event_time"].min().to_period("M").to_timestamp().tz_localize("UTC")
    out = frame.copy()
    out["event_time"] = pd.Timestamp(month, tz="UTC") + (frame["event_time"] - start)
    out = out[out["event_time"] < pd.Timestamp(month, tz="UTC") + pd.DateOffset(months=1)]
    out["customer_id"] = [f"R{month[:7]}-{i}" for i in range(len(out))]
    return out.reset_index(drop=True)


def write_windows(demo: Path) -> None:
    """Windows 1 and 4 look like training data; windows 2 and 3 like the demo's drifted 2026-06."""

    def read(month: str) -> pd.DataFrame:
        frame = pd.read_parquet(demo / f"churn_{month}.parquet")
        if (
            "churned" not in frame
        ):  # the newest demo month ships without labels: take them from where they land
            labels = pd.read_parquet(demo.parent / "churn_labels" / f"churn_labels_{month}.parquet")
            frame = frame.merge(
                labels[["customer_id", "churned"]], on="customer_id", how="left", validate="1:1"
            )
        return frame

    for month, like in zip(WINDOW_STARTS, ("2025-09", "2026-06", "2026-06", "2025-08"), strict=True):
        _restamp(read(like), month).to_parquet(demo / f"churn_{month[:7]}.parquet", index=False)


@dataclass
class Stack:
    airflow: AirflowStack
    pg: PrivatePostgres
    slack: SlackReceiver
    smtp: SmtpServer
    work: Path
    tracking_uri: str

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.pg.url, connect_timeout=5) as conn:
            cur = conn.execute(sql, args)
            names = [c.name for c in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def trigger(self, dag_id: str, logical_date: str | None, conf: dict[str, Any] | None = None) -> str:
        run_id = f"rest__{uuid.uuid4().hex[:8]}"
        body = {"dag_run_id": run_id, "logical_date": logical_date, "conf": conf or {}}
        self.airflow.api("POST", f"/dags/{dag_id}/dagRuns", body)
        return run_id

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT run_id, state, run_type, logical_date, triggering_user_name FROM dag_run "
            "WHERE dag_id = %s ORDER BY id",
            dag_id,
        )

    def wait_finished(self, dag_id: str, run_id: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            rows = [r for r in self.runs(dag_id) if r["run_id"] == run_id]
            if rows and rows[0]["state"] in ("success", "failed"):
                return str(rows[0]["state"])
            if self.airflow.dead():
                self.airflow.fail(f"services exited: {self.airflow.dead()}")
            time.sleep(2)
        self.airflow.fail(
            f"{dag_id} {run_id} not finished after {WAIT}s\n{self.airflow.task_log_tails(dag_id)}"
        )
        raise AssertionError("unreachable")

    def pause(self, dag_id: str, paused: bool) -> None:
        assert self.airflow.api("PATCH", f"/dags/{dag_id}", {"is_paused": paused})["is_paused"] is paused

    def action(self, dag_id: str, run_id: str) -> dict[str, Any]:
        path = self.work / "home" / "artifacts" / record_key(dag_id, run_id, Record.ACTION)
        return dict(json.loads(path.read_text())) if path.exists() else {}


def _pipeline(work: Path, demo: Path, name: str, edits: dict[str, Any]) -> None:
    cfg = yaml.safe_load((ROOT / "config" / "pipelines" / "churn.yaml").read_text())
    cfg.update(retries=0, registry={"model_name": f"{name}_{uuid.uuid4().hex[:6]}"}, **edits)
    cfg["data"]["source"] = f"{demo}/*.parquet"
    (work / "pipelines" / f"{name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


MONITOR = {"schedule": "@monthly", "min_rows": 100, "start_date": "2025-07-01"}
FAILURES = {
    "events": ["failure"],
    "slack_conn_id": "slack_default",
    "smtp_conn_id": "smtp_default",
    "email": ["oncall@example.com"],
}
GUARDED = {
    "monitoring": {
        **MONITOR,
        # drift alone acts here (the default acts on at_risk and degraded only): the windows' guard
        # counts are what this test compares
        "alert_on": ["drift", "at_risk", "degraded"],
        "retrain": {
            "on": ["drift", "at_risk", "degraded"],
            "enabled": True,
            "min_drifted_windows": 2,
            "of_last_windows": 3,
            "cooldown_hours": 1440,
            "on_backfill": True,
        },
    },
    "notifications": {"events": ["drift"], "slack_conn_id": "slack_default"},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, private_postgres: PrivatePostgres) -> Iterator[Stack]:
    from aiosmtpd.controller import Controller

    from tests.support.fixtures import _SmtpHandler

    work = tmp_path_factory.mktemp("issue16")
    demo = work / "demo"
    write_demo_data(demo, rows=12_000, seed=7)
    write_windows(demo)
    (work / "pipelines").mkdir()
    retrain_now = {
        "enabled": True,
        "min_drifted_windows": 1,
        "of_last_windows": 1,
        "on": ["drift", "degraded"],
    }
    _pipeline(
        work, demo, "rt", {"notifications": FAILURES, "monitoring": {**MONITOR, "retrain": retrain_now}}
    )
    _pipeline(work, demo, "bf", GUARDED)
    _pipeline(work, demo, "seq", GUARDED)

    slack = SlackReceiver(LOOPBACK, free_port())
    httpd = ThreadingHTTPServer((slack.host, slack.port), _slack_handler(slack))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    smtp = SmtpServer(host=LOOPBACK, port=free_port())
    controller = Controller(_SmtpHandler(smtp.messages), hostname=smtp.host, port=smtp.port)
    controller.start()

    tracking = f"sqlite:///{work / 'mlflow.db'}"
    MlflowClient(tracking_uri=tracking).search_experiments()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLCYCLE_", "AIRFLOW", "MLFLOW_"))},
        **airflow_service_env(
            work / "airflow",
            private_postgres.sqlalchemy_url,
            free_port(),
            dags_folder=ROOT / "dags",
            parallelism=3,
        ),
        **slack.airflow_conn_env(),
        **smtp.airflow_conn_env(),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only our runs
        "MLCYCLE_HOME": str(work / "home"),
        "MLCYCLE_DATA_ROOT": str(work),  # the demo data is written under work (sources are confined)
        "MLCYCLE_CONFIG_DIR": str(work / "pipelines"),
        "MLCYCLE_PROJECT_ROOT": str(ROOT),
        "MLFLOW_TRACKING_URI": tracking,
    }
    migrated = run_airflow(env, "db", "migrate", timeout=300, cwd=work)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    airflow = start_airflow_stack(env, work / "airflow-logs", timeout=240)
    s = Stack(airflow, private_postgres, slack, smtp, work, tracking)
    try:
        dags = [f"{p}__{k}" for p in ("rt", "bf", "seq") for k in ("train", "monitor")]
        airflow.wait_for_dags(dags, timeout=300)
        for dag_id in ("rt__train", "bf__train", "seq__train", "rt__monitor", "seq__monitor"):
            s.pause(dag_id, False)  # new DAGs start paused; bf__monitor stays paused for the backfill test
        trained = {
            p: s.trigger(f"{p}__train", TRAIN_DATE, {"data_end": TRAIN_DATE}) for p in ("rt", "bf", "seq")
        }
        for p, run_id in trained.items():
            assert s.wait_finished(f"{p}__train", run_id) == "success", airflow.task_log_tails(f"{p}__train")
        yield s
    finally:
        airflow.stop()
        controller.stop()
        httpd.shutdown()
        httpd.server_close()


def _messages_about(s: Stack, run_id: str) -> tuple[list[dict[str, Any]], list[Any]]:
    posts = [r.json for r in s.slack.requests if run_id in r.json.get("text", "")]
    mails = [m for m in s.smtp.messages if run_id in html.unescape(m.body)]
    return posts, mails


def test_failed_runs_without_logical_date_notify_once_per_channel(stack: Stack) -> None:
    s = stack
    # from here on every training run of rt fails in check_data (the YAML is read when the task runs)
    path = s.work / "pipelines" / "rt.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["checks"]["min_rows"] = 10**9
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    rest = s.trigger("rt__train", None)  # REST, "logical_date": null
    assert s.wait_finished("rt__train", rest) == "failed"

    # a drifted window (window 2: a copy of the demo's most drifted month) makes the monitor retrain
    monitor = s.trigger("rt__monitor", f"{WINDOW_ENDS[1]}T00:00:00+00:00")
    assert s.wait_finished("rt__monitor", monitor) == "success", s.airflow.task_log_tails("rt__monitor")
    retrain = f"drift_retrain__{monitor}"
    deadline = time.monotonic() + WAIT
    while not [r for r in s.runs("rt__train") if r["run_id"] == retrain] and time.monotonic() < deadline:
        time.sleep(2)
    assert s.wait_finished("rt__train", retrain) == "failed"
    assert [r["logical_date"] for r in s.runs("rt__train") if r["run_id"] in (rest, retrain)] == [None, None]

    # the REST caller as Airflow recorded it (the test's auth manager treats every caller as admin)
    [user] = [r["triggering_user_name"] for r in s.runs("rt__train") if r["run_id"] == rest]
    time.sleep(5)  # a duplicate would arrive by now
    for run_id, trigger in (
        (rest, f"manual run by {user} (UI or REST API)"),
        (retrain, f"drift retrain requested by monitor run {monitor}"),
    ):
        posts, mails = _messages_about(s, run_id)
        assert len(posts) == 1 and len(mails) == 1, (run_id, posts, [m.subject for m in mails])
        text, mail = posts[0]["text"], mails[0]
        for part in ("DAG: rt__train", "task: check_data", f"Run: {run_id}", trigger, "logical date: none"):
            assert part in text, (part, text)
        assert "expect_table_row_count_to_be_between failed" in text, text  # the error's first lines
        assert "rt__train failed: task check_data" in mail.subject and trigger in mail.subject
        assert "<" not in mail.subject and ":red_circle:" not in mail.subject
    task_logs = s.airflow.task_log_tails("rt__train", lines=400)
    assert "UndefinedError" not in task_logs and "NOT sent" not in task_logs


def _decisions(s: Stack, dag_id: str, run_ids: list[str]) -> list[tuple[Any, ...]]:
    out = []
    for run_id in run_ids:
        a = s.action(dag_id, run_id)
        out.append(
            (
                a.get("status"),
                a.get("alert"),
                a.get("retrain"),
                tuple(a.get("recent_statuses", ())),
                a.get("note"),
            )
        )
    return out


def test_backfill_decides_as_running_the_windows_one_by_one(stack: Stack) -> None:
    s = stack
    for p in ("bf", "seq"):
        s.pause(f"{p}__train", True)  # retrain requests stay queued: the same guard state on both sides
    s.pause("bf__monitor", True)

    env = {**s.airflow.env, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    created = subprocess.run(  # nosec B603
        [str(Path(sys.executable).parent / "mlcycle"), "backfill", "bf", WINDOW_STARTS[0], WINDOW_STARTS[-1]],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert "one run at a time (--max-active-runs 1)" in created.stdout
    assert "bf__monitor is paused: its backfill stays queued until you unpause it" in created.stdout
    [backfill] = s.query("SELECT id, max_active_runs FROM backfill WHERE dag_id = 'bf__monitor'")
    assert backfill["max_active_runs"] == 1
    s.pause("bf__monitor", False)

    sequential = []
    for end in WINDOW_ENDS:  # the same windows, one manual run after the other
        run_id = s.trigger("seq__monitor", f"{end}T00:00:00+00:00")
        assert s.wait_finished("seq__monitor", run_id) == "success", s.airflow.task_log_tails("seq__monitor")
        sequential.append(run_id)

    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        runs = [r for r in s.runs("bf__monitor") if r["run_type"] == "backfill"]
        if len(runs) == 4 and all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(3)
    runs = sorted(
        (r for r in s.runs("bf__monitor") if r["run_type"] == "backfill"), key=lambda r: r["logical_date"]
    )
    assert [r["state"] for r in runs] == ["success"] * 4, s.airflow.task_log_tails("bf__monitor")

    back = _decisions(s, "bf__monitor", [r["run_id"] for r in runs])
    one_by_one = _decisions(s, "seq__monitor", sequential)
    assert back == one_by_one
    statuses = [d[0] for d in back]
    # windows 2 and 3 copy the demo's most drifted month: drift, or degraded where its labels show
    # the concept change too; windows 1 and 4 look like the training data
    assert statuses[0] == statuses[3] == "ok" and set(statuses[1:3]) <= {"drift", "degraded"}, back
    assert [d[1] for d in back] == [False, True, False, False], back  # one alert; the next within cooldown
    assert [d[2] for d in back] == [False, False, True, False], back  # one retrain: 2 of 3 at window 3
    assert back[1][4] == "1 qualify, 2 of 3 needed" and back[2][4] == "retrain", back
    heads = ("drift detected", "model quality degraded")
    alerts = [r.json["text"] for r in s.slack.requests if any(h in r.json.get("text", "") for h in heads)]
    assert sum("*bf*" in t for t in alerts) == 1 and sum("*seq*" in t for t in alerts) == 1, alerts


def test_successful_runs_log_no_error_lines(stack: Stack) -> None:
    """Third-party progress bars (GX's "Calculating Metrics", tqdm in Evidently and MLflow) go to
    stderr, which a task log records at ERROR level: a run that succeeded has no ERROR line."""
    s = stack
    logs = Path(s.airflow.env["AIRFLOW_HOME"]) / "logs"
    checked = 0
    for dag_id in ("bf__train", "seq__train", "seq__monitor", "bf__monitor"):
        for run in s.runs(dag_id):
            if run["state"] != "success":
                continue
            for path in logs.glob(f"dag_id={dag_id}/run_id={run['run_id']}/task_id=*/attempt=*.log"):
                errors = [line for line in path.read_text().splitlines() if '"level":"error"' in line]
                assert errors == [], (path, errors[:3])
                checked += 1
    assert checked >= 20, checked  # two trainings (6 tasks) and eight monitor runs (5 or 6 tasks)
