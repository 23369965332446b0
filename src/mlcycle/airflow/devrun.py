"""Run a pipeline's DAGs in-process with ``dag.test()`` on embedded defaults (the dev-time runner).

Airflow reads ``AIRFLOW_HOME`` when it is first imported: :func:`set_airflow_env` runs before any
Airflow import here (the CLI calls it first thing), so a shell with no project variables still
gets the embedded home, not ``~/airflow``.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404  # fixed argv lists only (this interpreter running airflow), never a shell
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mlcycle.adapters.wiring import open_store
from mlcycle.airflow.lineage import openlineage_env
from mlcycle.config.loader import Pipeline, find_pipeline, project_root
from mlcycle.config.settings import CLI_USER_ENV, QUIET_ENV, load_settings
from mlcycle.core.names import record_key
from mlcycle.core.summaries import MONITOR_RECORDS, TRAINING_RECORDS, RunSummary, WindowSummary
from mlcycle.errors import MlcycleError


def airflow_env(home: Path) -> dict[str, str]:
    """Embedded Airflow: SQLite metadata under ``home``, this project's dags and plugins, lineage on."""
    root = project_root()
    airflow_home = Path(os.environ.get("AIRFLOW_HOME") or home / "airflow")
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", str(root / "dags")),
        "AIRFLOW__CORE__PLUGINS_FOLDER": os.environ.get(
            "AIRFLOW__CORE__PLUGINS_FOLDER", str(root / "plugins")
        ),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
        "MLCYCLE_PROJECT_ROOT": str(root),
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore::UserWarning"),
        **{key: os.environ.get(key, value) for key, value in QUIET_ENV.items()},
        **openlineage_env(),
    }


def set_airflow_env() -> Path:
    """Set the embedded Airflow's environment (unless already set); imports no Airflow. The Airflow home."""
    if "airflow" in sys.modules and "AIRFLOW_HOME" not in os.environ:
        raise MlcycleError(
            "Airflow was imported before mlcycle set AIRFLOW_HOME: it would use ~/airflow; "
            "call mlcycle.airflow.devrun.set_airflow_env() before importing Airflow"
        )
    for key, value in airflow_env(load_settings().home).items():
        os.environ.setdefault(key, value)
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    return home


def prepare_airflow() -> None:
    """Point Airflow at the embedded home and create its metadata DB once."""
    airflow_home = set_airflow_env()
    conn = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if conn or not (airflow_home / "airflow.db").exists():
        subprocess.run(  # nosec B603  # fixed argv, no shell, no user input
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            env=os.environ.copy(),
            capture_output=True,
        )


def collect_records(dag_id: str, run_id: str) -> dict[str, Any]:
    records = _records(dag_id, run_id, TRAINING_RECORDS)
    if "data_checks" in records:
        records["data_checks"] = records["data_checks"].get("summary", records["data_checks"])
    return records


def _records(dag_id: str, run_id: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The run's JSON records that exist, by name without ``.json`` (``Record.INGEST`` -> "ingest")."""
    store = open_store(load_settings())
    out: dict[str, Any] = {}
    for name in names:
        key = record_key(dag_id, run_id, name)
        if store.exists(key):
            out[name.removesuffix(".json")] = json.loads(store.read_bytes(key))
    return out


def _state(value: Any) -> str:
    return str(value.value if hasattr(value, "value") else value)


def _test_run(dag: Any, when: datetime, conf: dict[str, Any] | None) -> Any:
    from mlcycle.ops.moves import cli_actor

    os.environ.setdefault(CLI_USER_ENV, cli_actor())  # the run's actor and trigger: this OS user
    dr = dag.test(logical_date=when, run_after=datetime.now(UTC), run_conf=conf or {})
    if dr is None:
        raise MlcycleError(f"{dag.dag_id}: dag.test() returned no run")
    return dr


OnTask = Callable[[Any], None]  # called with each airflow.watch.TaskEvent


def refuse_before_start(pipe: Pipeline, when: datetime, first: date, key: str, option: str) -> None:
    """A run before the DAG's start date runs no task: refuse it, naming the key and the fix."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    if when < start:
        raise MlcycleError(
            f"{pipe.path}: {key}: {option} {when.isoformat()} is before the DAG's start_date "
            f"{first.isoformat()}, so Airflow would run no task. Use {option} {first.isoformat()} or "
            f"later, or set {key} earlier in the YAML."
        )


def run_training(
    pipeline: str,
    logical_date: str | None = None,
    conf: dict[str, Any] | None = None,
    on_task: OnTask | None = None,
) -> RunSummary:
    """Run ``<pipeline>__train`` once with ``dag.test()``; return what happened."""
    pipe = find_pipeline(pipeline)
    when = _parse_date(logical_date) if logical_date else datetime.now(UTC)
    refuse_before_start(pipe, when, pipe.config.start_date, "start_date", "--logical-date")
    prepare_airflow()
    from mlcycle.airflow.factory import build_training_dag
    from mlcycle.airflow.watch import watching

    dag = build_training_dag(pipe)
    with watching(on_task) as watcher:
        dr = _test_run(dag, when, conf)
    settings = load_settings()
    return RunSummary(
        pipeline=pipe.name,
        dag_id=dag.dag_id,
        run_id=dr.run_id,
        state=_state(dr.state),
        task_states={ti.task_id: _state(ti.state) for ti in dr.get_task_instances()},
        records=collect_records(dag.dag_id, dr.run_id),
        tracking_uri=settings.tracking_uri,
        artifact_root=settings.artifact_root,
        errors=dict(watcher.errors),
    )


def run_monitoring(
    pipeline: str,
    window_ends: list[datetime],
    execute_retrains: bool = True,
    on_task: OnTask | None = None,
    on_window: Callable[[WindowSummary], None] | None = None,
) -> list[WindowSummary]:
    """Run ``<pipeline>__monitor`` for each window (by its end) with ``dag.test()``, in window order.

    A retrain the monitor requests is a queued ``<pipeline>__train`` run; with no scheduler here,
    it is executed in-process (``dag.test`` with the request's conf) and the request removed.
    """
    pipe = find_pipeline(pipeline)
    if not pipe.config.monitoring_enabled:
        raise MlcycleError(f"{pipe.path}: monitoring is disabled for {pipe.name} (monitoring.enabled)")
    first = pipe.config.monitoring.start_date or pipe.config.start_date
    key = "monitoring.start_date" if pipe.config.monitoring.start_date else "start_date"
    for end in window_ends:
        refuse_before_start(pipe, end, first, key, "the window end")
    prepare_airflow()
    from mlcycle.airflow.factory import build_monitor_dag
    from mlcycle.airflow.watch import watching

    dag = build_monitor_dag(pipe)
    out = []
    for end in sorted(window_ends):
        started = datetime.now(UTC)
        with watching(on_task) as watcher:
            dr = _test_run(dag, end, None)
        summary = WindowSummary(
            dag_id=dag.dag_id,
            run_id=dr.run_id,
            state=_state(dr.state),
            task_states={ti.task_id: _state(ti.state) for ti in dr.get_task_instances()},
            records=_records(dag.dag_id, dr.run_id, MONITOR_RECORDS),
            primary_metric=pipe.config.evaluation.primary_metric,
            errors=dict(watcher.errors),
        )
        if execute_retrains:
            for request in _take_queued_runs(pipe.train_dag_id):
                conf = request["conf"]
                summary.retrain = run_training(
                    pipe.name, logical_date=conf.get("data_end"), conf=conf, on_task=on_task
                )
                summary.retrain.records["requested_as"] = request["run_id"]
        summary.seconds = (datetime.now(UTC) - started).total_seconds()
        if on_window is not None:
            on_window(summary)
        out.append(summary)
    return out


def _take_queued_runs(dag_id: str) -> list[dict[str, Any]]:
    """Queued runs of ``dag_id`` (retrain requests), removed from the metadata DB as they are taken."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.state == "queued").order_by(DagRun.id)
        ).all()
        taken = [{"run_id": r.run_id, "conf": dict(r.conf or {})} for r in runs]
        for r in runs:
            session.delete(r)
    return taken


def window_ends(first_end: str, last_end: str, cron: str) -> list[datetime]:
    """Ends of the schedule's data intervals between ``first_end`` and ``last_end`` (inclusive)."""
    import pendulum
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    tt = CronDataIntervalTimetable(cron, timezone="UTC")
    start, stop = _parse_date(first_end), _parse_date(last_end)
    interval = tt.infer_manual_data_interval(run_after=pendulum.instance(start))
    ends: list[datetime] = []
    restriction = TimeRestriction(earliest=None, latest=None, catchup=True)
    while interval.end <= stop:
        if interval.end >= start:
            ends.append(datetime.fromtimestamp(interval.end.timestamp(), tz=UTC))
        info = tt.next_dagrun_info(
            last_automated_data_interval=DataInterval(*interval), restriction=restriction
        )
        if info is None or info.data_interval is None:
            break
        interval = info.data_interval
    return ends


def _parse_date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MlcycleError(
            f"--logical-date {text!r}: use an ISO date such as 2026-01-01T00:00:00+00:00"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def private_password_file(airflow_home: Path) -> Path:
    """The file the SimpleAuthManager writes generated passwords to, created (or reset) as mode 0600.

    Airflow appends to the file it finds, so the mode set here is the mode the passwords get.
    """
    path = airflow_home / "simple_auth_manager_passwords.json.generated"
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    path.chmod(0o600)
    return path


def standalone(port: int = 8080) -> int:
    """Run ``airflow standalone`` on localhost with the embedded settings (blocks until stopped)."""
    settings = load_settings()
    env = {**os.environ, **airflow_env(settings.home)}
    env["PATH"] = (
        f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # standalone runs `airflow …`
    )
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    env.setdefault("AIRFLOW__API__PORT", str(port))
    env.setdefault("AIRFLOW__API__BASE_URL", f"http://localhost:{port}")
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    passwords = private_password_file(Path(env["AIRFLOW_HOME"]))
    print(  # noqa: T201 - the user needs to know where to log in
        f"Airflow UI: http://localhost:{port}  (user admin; password in {passwords})\n"
        f"MLflow tracking: {settings.tracking_uri}; artifacts: {settings.artifact_root}",
        flush=True,
    )
    return subprocess.call([sys.executable, "-m", "airflow", "standalone"], env=env)  # nosec B603  # fixed argv


def create_backfill(
    dag_id: str, first: str, last: str, conf: dict[str, Any] | None = None
) -> tuple[int, str]:
    """``airflow backfill create`` with one active run (windows decided in order); (exit code, output).

    Airflow's backfill has its own ``max_active_runs`` (10 by default) that the DAG's does not bound.
    """
    set_airflow_env()
    cmd = [sys.executable, "-m", "airflow", "backfill", "create", "--dag-id", dag_id]
    cmd += ["--from-date", first, "--to-date", last, "--max-active-runs", "1"]
    if conf:
        cmd += ["--dag-run-conf", json.dumps(conf)]
    done = subprocess.run(  # nosec B603  # fixed argv, no shell
        cmd, env=os.environ.copy(), capture_output=True, text=True, check=False
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def is_paused(dag_id: str) -> bool | None:
    """Whether the scheduler holds ``dag_id`` paused (None: not known to the metadata DB yet)."""
    set_airflow_env()
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        paused = session.scalar(select(DagModel.is_paused).where(DagModel.dag_id == dag_id))
    return None if paused is None else bool(paused)
