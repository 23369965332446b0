"""The production topology, natively: what docker-compose.yml runs, as separate processes on loopback.

One stack serves every test in this module (each Airflow process is heavy; the machine has 2 cores):
PostgreSQL for Airflow's metadata and, in its own database, MLflow's backend store; Redis as the Celery
broker with the result backend on PostgreSQL; ``airflow api-server``, ``scheduler``, ``dag-processor``,
``triggerer`` and one ``airflow celery worker``; an ``mlflow server`` whose artifacts go to an S3 endpoint
(moto) through the server (proxied artifacts); the pipeline's data and step records on that S3 too.
The api-server asks for a login (SimpleAuthManager, one admin with a generated password).

- The training DAG is triggered through the public REST API with a JWT from ``/auth/token``, as the UI
  does, runs every task on the Celery worker and promotes its model in the MLflow server.
- A backfill of the monitoring DAG (``airflow backfill create``, three monthly windows) completes on the
  worker; backfilled drifted months are scored and judged but never retrain.
- Headless Chromium logs in through the UI's login form and screenshots the DAG list and the pipeline.

The scheduler's cron scheduling is off (``use_job_schedule``): unpausing a DAG, which the scheduler
requires before it runs any of its tasks, would otherwise also start a run for the latest interval.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from mlflow import MlflowClient

from mlcycle.adapters.lineage_events import read_event_dicts
from mlcycle.airflow.lineage import openlineage_env
from mlcycle.cli.demo import write_demo_data
from mlcycle.core.names import record_key
from tests.support.fixtures import (
    AirflowStack,
    MlflowServer,
    S3Server,
    airflow_service_env,
    celery_executor_env,
    create_database,
    free_port,
    redis_queue,
    run_airflow,
    simple_auth_env,
    start_airflow_stack,
    start_mlflow_server,
    stop_process_group,
)

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = "churn"  # the demo pipeline's YAML, its data and model moved to S3
TRAIN_DAG, MONITOR_DAG = f"{PIPELINE}__train", f"{PIPELINE}__monitor"
TRAIN_TASKS = ("ingest", "check_data", "train", "evaluate", "validate_model", "register_and_promote")
TRAIN_END = "2025-10-01T00:00:00+00:00"  # trains on 2025-01..09; the demo data drifts from 2026-01
# logical date = the start of the monthly data interval; --to-date is an inclusive logical date
FROM_DATE, TO_DATE = "2026-03-01", "2026-05-01"
WINDOWS = [
    (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
    (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)),
    (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)),
]
MONITOR_TASKS = ("load_window", "score", "detect_drift", "decide", "act")
RUN_TIMEOUT = 600
ADMIN = "admin"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_HINT = "apt-get install -y --no-install-recommends chromium chromium-driver"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class PeakMemory:
    """Samples the summed RSS of the stack's process groups (and their children) once a second."""

    def __init__(self, pgids: Callable[[], list[int]]) -> None:
        self.pgids, self.peak_mb = pgids, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def _sample(self) -> float:
        groups, total = set(self.pgids()), 0
        for proc in psutil.process_iter():
            try:
                if os.getpgid(proc.pid) in groups:
                    total += proc.memory_info().rss
            except (psutil.Error, ProcessLookupError):
                continue
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.peak_mb = max(self.peak_mb, self._sample())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class Topology:
    stack: AirflowStack
    mlflow: MlflowServer
    s3: S3Server
    bucket: str
    airflow_db_url: str
    queue: str
    model_name: str
    password: str
    work: Path
    timings: dict[str, float] = field(default_factory=dict)

    def s3_keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def record(self, dag_id: str, run_id: str, name: str) -> dict[str, Any]:
        key = f"artifacts/{record_key(dag_id, run_id, name)}"
        return json.loads(self.s3.client().get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.airflow_db_url) as conn:
            cur = conn.execute(sql, args)
            names = [c.name for c in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def details(self, dag_id: str) -> str:
        return f"{self.stack.task_log_tails(dag_id, lines=40)}\n{self.stack.log_tails(40)}"


@pytest.fixture(scope="module")
def topology(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, write_pipeline: Callable[..., str]
) -> Iterator[Topology]:
    """Start the whole topology once; stop every process and drop the databases afterwards."""
    work = tmp_path_factory.mktemp("topology")
    config_dir = work / "pipelines"
    config_dir.mkdir()
    bucket = s3_server.create_bucket()
    s3 = s3_server.client()
    for f in write_demo_data(work / "demo", rows=12_000, seed=7):
        s3.upload_file(str(f), bucket, f"landing/churn/{f.name}")
    model_name = f"churn_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLCYCLE_CONFIG_DIR", str(config_dir))  # where write_pipeline writes
        write_pipeline(
            PIPELINE,
            {
                "data": {"source": f"s3://{bucket}/landing/churn/*.parquet"},
                "registry": {"model_name": model_name},
                "notifications": {"events": ["failure"], "slack_conn_id": None, "email": []},
                "monitoring": {
                    "schedule": "@monthly",
                    "min_rows": 300,
                    # drift alone acts here too (the default acts on at_risk and degraded only)
                    "alert_on": ["drift", "at_risk", "degraded"],
                    "retrain": {
                        "on": ["drift", "at_risk", "degraded"],
                        "enabled": True,
                        "min_drifted_windows": 1,
                        "of_last_windows": 1,
                    },
                },
            },
        )
    password = secrets.token_urlsafe(16)
    timings: dict[str, float] = {}

    with ExitStack() as cleanup:
        airflow_db = cleanup.enter_context(create_database())
        mlflow_db = cleanup.enter_context(create_database())
        broker = cleanup.enter_context(redis_queue())
        home = work / "airflow"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MLCYCLE_", "AIRFLOW", "MLFLOW_"))},
            **s3_server.env(),
            **airflow_service_env(
                home,
                airflow_db.sqlalchemy_url,
                free_port(),
                dags_folder=ROOT / "dags",
                plugins_folder=ROOT / "plugins",
            ),
            **celery_executor_env(broker, f"db+{airflow_db.url}", concurrency=2),
            **simple_auth_env(home, ADMIN, password),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            **openlineage_env(),  # as docker-compose.yml: the file transport under MLCYCLE_HOME
            "MLCYCLE_HOME": str(work / "home"),
            "MLCYCLE_CONFIG_DIR": str(config_dir),
            "MLCYCLE_ARTIFACT_ROOT": f"s3://{bucket}/artifacts",
            "MLCYCLE_PROJECT_ROOT": str(ROOT),
        }
        started = time.monotonic()
        # both migrations take tens of seconds on PostgreSQL: Airflow's runs while MLflow's server starts
        migrate_log = work / "airflow-db-migrate.log"
        with migrate_log.open("wb") as out:
            migrate = subprocess.Popen(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=work,
                start_new_session=True,
            )
        cleanup.callback(stop_process_group, migrate, 5)
        mlflow = start_mlflow_server(
            mlflow_db.sqlalchemy_url, f"s3://{bucket}/mlflow", work, env=s3_server.env()
        )
        cleanup.callback(mlflow.stop)  # before its database is dropped
        env["MLFLOW_TRACKING_URI"] = mlflow.url
        assert migrate.wait(timeout=300) == 0, migrate_log.read_text()[-5000:]
        timings["migrate_and_mlflow_s"] = time.monotonic() - started

        stack = start_airflow_stack(env, work / "airflow-logs", timeout=240, triggerer=True)
        cleanup.callback(stack.stop)  # before the metadata database is dropped
        memory = cleanup.enter_context(
            PeakMemory(lambda: [p.process.pid for p in stack.processes] + [mlflow.process.pid])
        )
        stack.login(ADMIN, password)
        stack.wait_for_dags([TRAIN_DAG, MONITOR_DAG], timeout=180)
        timings["stack_start_s"] = time.monotonic() - started
        topo = Topology(
            stack,
            mlflow,
            s3_server,
            bucket,
            airflow_db.url,
            broker.queue,
            model_name,
            password,
            work,
            timings,
        )
        yield topo

        stack.stop()
        mlflow.stop()
        survivors = stack.survivors() + (["mlflow server"] if mlflow.alive() else [])
        timings["total_s"] = time.monotonic() - started
        timings["peak_rss_mb"] = memory.peak_mb
        print(f"\nproduction topology timings: {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
        assert survivors == [], f"processes still running after stop: {survivors}"


def _wait_for_run(topo: Topology, dag_id: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        run = topo.stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            return dict(run)
        if topo.stack.dead() or time.monotonic() > deadline:
            why = f"service(s) exited: {', '.join(topo.stack.dead())}" if topo.stack.dead() else "timed out"
            topo.stack.fail(
                f"{dag_id} run {run_id} did not finish ({why}): {run['state']}\n{topo.details(dag_id)}"
            )
        time.sleep(2)


def _ran_on_the_worker(topo: Topology, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Task instances of the run, asserting each was queued on our Celery queue and executed by our worker."""
    tis = topo.query(
        "SELECT task_id, state, queue, hostname, external_executor_id FROM task_instance "
        "WHERE dag_id = %s AND run_id = %s ORDER BY task_id",
        dag_id,
        run_id,
    )
    worker_log = topo.stack.log_of("celery-worker")
    for ti in tis:
        if ti["state"] == "skipped":
            continue
        assert ti["queue"] == topo.queue, ti
        assert ti["hostname"], ti
        celery_id = ti["external_executor_id"]  # the Celery task id the executor sent the workload as
        assert celery_id and f"[{celery_id}] Executing workload in Celery" in worker_log, (
            ti,
            worker_log[-3000:],
        )
    return tis


@pytest.fixture(scope="module")
def rest_training_run(topology: Topology) -> dict[str, Any]:
    """The training DAG unpaused and triggered through the REST API, as the UI's trigger form does."""
    api = topology.stack.api
    assert api("PATCH", f"/dags/{TRAIN_DAG}", {"is_paused": False})["is_paused"] is False
    started = time.monotonic()
    created = api(
        "POST",
        f"/dags/{TRAIN_DAG}/dagRuns",
        {
            "dag_run_id": f"rest__{uuid.uuid4().hex[:8]}",
            "logical_date": TRAIN_END,
            "conf": {"data_end": TRAIN_END},
            "note": "triggered by the production-topology test",
        },
    )
    run = _wait_for_run(topology, TRAIN_DAG, created["dag_run_id"])
    topology.timings["training_run_s"] = time.monotonic() - started
    return run


def test_training_dag_triggered_over_rest_runs_on_the_celery_worker(
    topology: Topology, rest_training_run: dict[str, Any]
) -> None:
    run_id = rest_training_run["dag_run_id"]
    assert rest_training_run["state"] == "success", topology.details(TRAIN_DAG)
    assert rest_training_run["run_type"] == "manual" and rest_training_run["conf"] == {"data_end": TRAIN_END}

    tis = topology.stack.api("GET", f"/dags/{TRAIN_DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    assert {t["task_id"]: t["state"] for t in tis} == dict.fromkeys(TRAIN_TASKS, "success")
    assert {t["queue"] for t in tis} == {topology.queue}
    assert [t["task_id"] for t in _ran_on_the_worker(topology, TRAIN_DAG, run_id)] == sorted(TRAIN_TASKS)

    registry = MlflowClient(tracking_uri=topology.mlflow.url, registry_uri=topology.mlflow.url)
    champion = registry.get_model_version_by_alias(topology.model_name, "champion")
    assert champion.version == "1"
    mlflow_run = registry.get_run(champion.run_id)
    assert mlflow_run.data.tags.get("mlcycle.snapshot_uri", "").startswith(
        f"s3://{topology.bucket}/artifacts/"
    )
    keys = topology.s3_keys()
    # proxied artifacts: the server wrote the model to S3; the client only knew the server's URL
    assert any(k.startswith("mlflow/") and k.endswith("MLmodel") for k in keys), keys
    promotion = topology.record(TRAIN_DAG, run_id, "promotion.json")
    assert promotion["version"] == "1", promotion

    # the worker's OpenLineage events (docs/lineage.md): S3 sources -> snapshot -> run -> version
    events = [
        e
        for e in read_event_dicts(topology.work / "home" / "lineage" / "events.jsonl")
        if e["eventType"] == "COMPLETE" and e["job"]["name"].startswith(f"{TRAIN_DAG}.")
    ]
    by_task = {e["job"]["name"].split(".", 1)[1]: e for e in events}
    assert set(by_task) == set(TRAIN_TASKS), sorted(by_task)
    sources = by_task["ingest"]["inputs"]
    assert sources and {d["namespace"] for d in sources} == {f"s3://{topology.bucket}"}
    assert all(d["facets"]["version"]["datasetVersion"] for d in sources)
    [version] = by_task["register_and_promote"]["outputs"]
    host = topology.mlflow.url.split("://", 1)[1].rstrip("/")
    assert (version["namespace"], version["name"]) == (f"mlflow://{host}", f"models/{topology.model_name}/1")


def test_backfill_of_monitor_dag_completes_on_the_worker_and_never_retrains(
    topology: Topology, rest_training_run: dict[str, Any]
) -> None:
    assert rest_training_run["state"] == "success", (
        "the backfill needs the champion the training run promotes"
    )
    stack, api = topology.stack, topology.stack.api
    registry = MlflowClient(tracking_uri=topology.mlflow.url, registry_uri=topology.mlflow.url)
    champion = registry.get_model_version_by_alias(topology.model_name, "champion")
    train_runs_before = [r["dag_run_id"] for r in api("GET", f"/dags/{TRAIN_DAG}/dagRuns")["dag_runs"]]
    assert api("PATCH", f"/dags/{MONITOR_DAG}", {"is_paused": False})["is_paused"] is False

    started = time.monotonic()
    backfill = ["backfill", "create", "--dag-id", MONITOR_DAG, "--from-date", FROM_DATE, "--to-date", TO_DATE]
    created = run_airflow(stack.env, *backfill, "--max-active-runs", "1", cwd=topology.work)
    assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-5000:]
    runs = _wait_for_backfill(topology)
    topology.timings["backfill_s"] = time.monotonic() - started

    assert [(r["data_interval_start"], r["data_interval_end"]) for r in runs] == WINDOWS, runs
    assert {r["run_type"] for r in runs} == {"backfill"}, runs
    assert [r["state"] for r in runs] == ["success"] * len(WINDOWS), (
        f"{runs}\n{topology.details(MONITOR_DAG)}"
    )

    for run in runs:
        tis = {t["task_id"]: t for t in _ran_on_the_worker(topology, MONITOR_DAG, run["run_id"])}
        states = {task: t["state"] for task, t in tis.items()}
        assert {t: states.get(t) for t in MONITOR_TASKS} == dict.fromkeys(MONITOR_TASKS, "success"), states
        assert states.get("trigger_retrain") == "skipped", f"{states}\n{topology.details(MONITOR_DAG)}"

        def record(name: str, run_id: str = run["run_id"]) -> dict[str, Any]:
            return topology.record(MONITOR_DAG, run_id, name)

        window = record("window.json")
        assert datetime.fromisoformat(window["window_start"]) == run["data_interval_start"], window
        assert datetime.fromisoformat(window["window_end"]) == run["data_interval_end"], window
        assert window["status"] == "loaded" and window["rows"] >= 300, window
        assert record("score.json")["model_version"] == champion.version
        decision = record("decision.json")
        # the demo drifts from 2026-01 and its concept changes from 2026-03: drift, or degraded on labels
        assert decision["status"] in ("drift", "degraded"), (run["run_id"], decision)
        action = record("action.json")
        assert action["is_backfill"] is True, action
        assert action["retrain"] is False and action["alert"] is False, action
        # the backfill is the only thing that held the retrain back: 1 of 1 windows drifted
        assert [r for r in action["reasons"] if r.startswith("retrain")] == [
            "retrain: not triggered, backfill run (set monitoring.retrain.on_backfill or the allow_retrain param)"
        ], action["reasons"]

    # the backfill requested no retrain: no new training run (the training DAG is unpaused), same champion
    train_runs = [r["dag_run_id"] for r in api("GET", f"/dags/{TRAIN_DAG}/dagRuns")["dag_runs"]]
    assert train_runs == train_runs_before
    assert registry.get_model_version_by_alias(topology.model_name, "champion").version == champion.version
    assert len(registry.search_model_versions(f"name = '{topology.model_name}'")) == 1


def _wait_for_backfill(topo: Topology) -> list[dict[str, Any]]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        runs = topo.query(
            "SELECT run_id, run_type, state, data_interval_start, data_interval_end FROM dag_run "
            "WHERE dag_id = %s ORDER BY logical_date",
            MONITOR_DAG,
        )
        done = topo.query("SELECT completed_at FROM backfill WHERE dag_id = %s", MONITOR_DAG)
        finished = [r for r in runs if r["state"] in ("success", "failed")]
        if len(runs) == len(WINDOWS) == len(finished) and len(done) == 1 and done[0]["completed_at"]:
            return runs
        if topo.stack.dead() or time.monotonic() > deadline:
            why = f"service(s) exited: {', '.join(topo.stack.dead())}" if topo.stack.dead() else "timed out"
            topo.stack.fail(
                f"backfill of {MONITOR_DAG} did not finish ({why}): {[(r['run_id'], r['state']) for r in runs]}\n"
                f"{topo.stack.task_log_tails(MONITOR_DAG)}"
            )
        time.sleep(2)


def _launch_chromium(playwright: Any, user_data_dir: Path) -> Any:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: the UI test needs Debian's Chromium. Install it: {CHROMIUM_HINT}")
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1440, "height": 900},
    )


def _screenshot(page: Any, path: Path, expected: list[str]) -> str:
    """Wait until every ``expected`` text is on the page, save a PNG, return the page's text at that moment."""
    for text in expected:
        page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=60_000)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(path))
    body = str(page.inner_text("body"))
    for text in expected:
        assert text in body, f"{text!r} not on {page.url} (screenshot {path}):\n{body[:2000]}"
    return body


def _assert_real_png(path: Path, min_bytes: int = 20_000) -> None:
    from PIL import Image

    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (1440, 900), (img.format, img.size)
        colours = img.convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert path.stat().st_size >= min_bytes, f"{path}: {path.stat().st_size} bytes"
    assert len(colours) > 50, f"{path}: only {len(colours)} colours: a blank page?"


def test_ui_login_dag_list_and_pipeline_pages_in_headless_chromium(
    topology: Topology, rest_training_run: dict[str, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    base, run_id = topology.stack.api_url, rest_training_run["dag_run_id"]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = _launch_chromium(pw, tmp_path / "chromium-profile")
        try:
            page = browser.new_page()
            page.goto(f"{base}/dags")
            page.get_by_label("Username").fill(ADMIN)  # the SimpleAuthManager's login form
            page.get_by_label("Password").fill(topology.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/dags**", timeout=60_000)

            _screenshot(page, shots / "airflow-dags.png", [TRAIN_DAG, MONITOR_DAG])
            page.goto(f"{base}/dags/{TRAIN_DAG}")
            _screenshot(page, shots / "airflow-train-dag.png", [TRAIN_DAG, *TRAIN_TASKS[:1]])
            page.goto(f"{base}/dags/{TRAIN_DAG}/runs/{run_id}")
            page.get_by_role("button", name="Show Graph").click()
            page.locator(".react-flow__node").first.wait_for(state="visible", timeout=60_000)
            _screenshot(page, shots / "airflow-train-run-graph.png", [run_id, "Success"])
            graph = str(page.locator(".react-flow").inner_text())
            assert all(task in graph for task in TRAIN_TASKS), graph
        finally:
            browser.close()
    for png in sorted(shots.glob("*.png")):
        _assert_real_png(png)
    assert len(list(shots.glob("*.png"))) == 3
    if keep := os.environ.get("MLCYCLE_SCREENSHOT_DIR"):  # e.g. docs/img, to refresh the README's picture
        for png in shots.glob("*.png"):
            shutil.copy(png, Path(keep) / png.name)
