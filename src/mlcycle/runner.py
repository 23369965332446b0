"""Run a pipeline's training DAG in-process with ``dag.test()`` on embedded defaults, and summarise it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlcycle.config import find_pipeline, project_root
from mlcycle.errors import MlcycleError
from mlcycle.ingest import run_key
from mlcycle.settings import load_settings
from mlcycle.storage import open_store

STEPS = ("ingest", "check_data", "train", "evaluate", "validate_model", "register_and_promote")


def airflow_env(home: Path) -> dict[str, str]:
    """Embedded Airflow: SQLite metadata under ``home``, this project's dags and plugins."""
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
    }


def prepare_airflow() -> None:
    """Point Airflow at the embedded home and create its metadata DB once."""
    settings = load_settings()
    env = airflow_env(settings.home)
    for key, value in env.items():
        os.environ.setdefault(key, value)
    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    airflow_home.mkdir(parents=True, exist_ok=True)
    conn = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if conn or not (airflow_home / "airflow.db").exists():
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            env=os.environ.copy(),
            capture_output=True,
        )


@dataclass
class RunSummary:
    pipeline: str
    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    records: dict[str, Any] = field(default_factory=dict)
    tracking_uri: str = ""
    artifact_root: str = ""

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def render(self) -> str:
        r = self.records
        lines = [f"mlcycle: {self.dag_id} run {self.run_id}: {self.state.upper()}"]
        lines.append("  tasks: " + ", ".join(f"{t}={self.task_states.get(t, '-')}" for t in STEPS))
        snap = r.get("ingest")
        if snap:
            lines.append(
                f"  snapshot: {snap['rows']} rows, window {snap['window_start']} .. {snap['window_end']}\n"
                f"            {snap['uri']} (sha256 {snap['sha256'][:12]})"
            )
        checks = r.get("data_checks")
        if checks:
            failed = len(checks["failures"])
            lines.append(
                f"  data checks: {'passed' if checks['success'] else 'FAILED'}, "
                f"{checks['evaluated'] - failed}/{checks['evaluated']} expectations on {checks['rows']} rows"
            )
        ev = r.get("evaluation")
        if ev:
            primary = ev["primary_metric"]
            cand = ", ".join(f"{k}={v:.4f}" for k, v in ev["candidate"].items() if v is not None)
            lines.append(f"  candidate metrics (holdout {ev['holdout_rows']} rows): {cand}")
            champ = ev.get("champion")
            if champ:
                value = (champ.get("metrics") or {}).get(primary)
                shown = (
                    f"{primary}={value:.4f}" if value is not None else f"not scorable: {champ.get('error')}"
                )
                lines.append(f"  champion v{champ['version']} on the same holdout: {shown}")
            else:
                lines.append("  champion: none yet")
        dec = r.get("decision")
        if dec:
            lines.append(f"  gate: {dec['verdict']}" + (" (forced)" if dec.get("forced") else ""))
            lines.extend(f"    - {reason}" for reason in dec["reasons"])
        promo = r.get("promotion")
        if promo:
            lines.append(
                f"  model: {promo['model_name']} v{promo['version']}: {promo['why']}; "
                f"champion is now v{promo['champion']}"
            )
        lines.append(f"  MLflow: {self.tracking_uri}")
        lines.append(f"  artifacts: {self.artifact_root}/runs/{self.pipeline}/{run_key(self.run_id)}/")
        return "\n".join(lines)


def collect_records(pipeline: str, run_id: str) -> dict[str, Any]:
    settings = load_settings()
    store = open_store(settings.artifact_root)
    out: dict[str, Any] = {}
    for name in ("ingest", "data_checks", "evaluation", "decision", "promotion"):
        key = f"runs/{pipeline}/{run_key(run_id)}/{name}.json"
        if store.exists(key):
            data = json.loads(store.read_bytes(key))
            out[name] = data.get("summary", data) if name == "data_checks" else data
    return out


def run_training(
    pipeline: str, logical_date: str | None = None, conf: dict[str, Any] | None = None
) -> RunSummary:
    """Run ``<pipeline>__train`` once with ``dag.test()``; return what happened."""
    pipe = find_pipeline(pipeline)
    prepare_airflow()
    from mlcycle.dag_factory import build_training_dag

    dag = build_training_dag(pipe)
    when = _parse_date(logical_date) if logical_date else datetime.now(UTC)
    dr = dag.test(logical_date=when, run_after=datetime.now(UTC), run_conf=conf or {})
    if dr is None:
        raise MlcycleError(f"{dag.dag_id}: dag.test() returned no run")
    states = {
        ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        for ti in dr.get_task_instances()
    }
    settings = load_settings()
    state = str(dr.state.value if hasattr(dr.state, "value") else dr.state)
    return RunSummary(
        pipeline=pipe.name,
        dag_id=dag.dag_id,
        run_id=dr.run_id,
        state=state,
        task_states=states,
        records=collect_records(pipe.name, dr.run_id),
        tracking_uri=settings.tracking_uri,
        artifact_root=settings.artifact_root,
    )


def _parse_date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MlcycleError(
            f"--logical-date {text!r}: use an ISO date such as 2026-01-01T00:00:00+00:00"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
    passwords = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    print(  # noqa: T201 - the user needs to know where to log in
        f"Airflow UI: http://localhost:{port}  (user admin; password in {passwords})\n"
        f"MLflow tracking: {settings.tracking_uri}; artifacts: {settings.artifact_root}",
        flush=True,
    )
    return subprocess.call([sys.executable, "-m", "airflow", "standalone"], env=env)
