"""OpenLineage from real DAG runs (dag.test, the embedded file transport): train -> monitor with a retrain
-> rollback, then the chain of each version rebuilt from the events alone and checked against MLflow."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlcycle.adapters.lineage_events import parse_event, read_event_dicts
from mlcycle.adapters.registry import MlflowRegistry
from mlcycle.airflow.devrun import _state, _test_run, run_monitoring, run_training
from mlcycle.airflow.factory import build_rollback_dag
from mlcycle.cli.main import main
from mlcycle.config.loader import find_pipeline
from mlcycle.config.settings import load_settings
from mlcycle.core.lineage import FACETS, SCHEMA_BASE
from mlcycle.core.names import CHAMPION
from mlcycle.core.summaries import render_windows
from mlcycle.ops.lineage import lineage
from mlcycle.ops.lineage_graph import load_events, version_graph

ROOT = Path(__file__).resolve().parents[2]
MODEL = "lin_churn"
TRAIN_DATE = "2025-10-01T00:00:00+00:00"
DRIFTED_END = datetime(2026, 6, 1, tzinfo=UTC)  # 2026-05: degraded on its labels


def _registry() -> MlflowRegistry:
    return MlflowRegistry(MODEL, load_settings().tracking_uri)


@pytest.fixture(scope="module")
def lifecycle(demo_dir: Path, write_pipeline: Callable[..., str]) -> dict[str, Any]:
    """v1 trained; a drifted window retrains v2 (champion); the rollback DAG moves champion back to v1."""
    name = write_pipeline(
        "lin",
        {
            "registry": {"model_name": MODEL},
            "model": {"split": {"strategy": "time", "test_size": 0.2}},
            # the demo's concept change from 2026-03 puts the retrain's time-split holdout under the new
            # behaviour: a lower floor lets v2 through, so the chain has a champion move to follow
            "evaluation": {"thresholds": {"roc_auc": 0.6, "f1": 0.3}},
            "monitoring": {
                "schedule": "@monthly",
                "min_rows": 300,
                "retrain": {"enabled": True, "min_drifted_windows": 1, "of_last_windows": 1},
            },
        },
    )
    first = run_training(name, logical_date=TRAIN_DATE)
    assert first.succeeded, first.render()
    [window] = run_monitoring(name, [DRIFTED_END])
    assert window.state == "success", window.task_states
    assert window.retrain is not None and window.retrain.succeeded, render_windows([window])
    v1, v2 = first.records["promotion"]["version"], window.retrain.records["promotion"]["version"]
    assert window.retrain.records["promotion"]["promoted"] is True
    dr = _test_run(build_rollback_dag(find_pipeline(name)), datetime.now(UTC), {"reason": "v2 misbehaves"})
    assert _state(dr.state) == "success"
    assert _registry().get_alias(CHAMPION).version == v1  # type: ignore[union-attr]
    return {"name": name, "v1": v1, "v2": v2, "first": first, "window": window}


def _events() -> list[dict[str, Any]]:
    return list(read_event_dicts(load_settings().lineage_events))


def test_every_event_parses_and_every_custom_facet_names_a_documented_schema(lifecycle) -> None:
    raw = _events()
    assert len(raw) > 20
    custom: set[str] = set()
    for data in raw:
        parse_event(data)  # the client's generated classes: run id, times and URLs validated
        for key, facet in (data["run"].get("facets") or {}).items():
            assert facet.get("_schemaURL"), (key, data["job"]["name"])
            if key.startswith("mlcycle_"):
                custom.add(key)
                assert facet["_schemaURL"] == f"{SCHEMA_BASE}{FACETS[key]}.json#/$defs/{FACETS[key]}"
    # the run of train, monitor and rollback carried each kind of mlcycle facet
    assert custom >= {
        "mlcycle_config",
        "mlcycle_dataChecks",
        "mlcycle_metrics",
        "mlcycle_gate",
        "mlcycle_aliasMove",
        "mlcycle_serving",
        "mlcycle_monitorVerdict",
    }
    doc = (ROOT / "docs" / "lineage.md").read_text()
    for key, schema in FACETS.items():
        path = ROOT / "docs" / "lineage" / "facets" / f"{schema}.json"
        assert json.loads(path.read_text())["$id"].startswith(f"{SCHEMA_BASE}{schema}.json"), path
        assert f"`{key}`" in doc and f"{schema}.json" in doc, key


def test_every_task_of_the_train_monitor_and_rollback_dags_declares_lineage(lifecycle) -> None:
    complete = [e for e in _events() if e["eventType"] == "COMPLETE"]
    jobs = {e["job"]["name"]: e for e in complete}
    name = lifecycle["name"]
    for task in ("ingest", "check_data", "train", "evaluate", "validate_model", "register_and_promote"):
        event = jobs[f"{name}__train.{task}"]
        assert event["inputs"] or event["outputs"], task
        assert event["run"]["facets"]["mlcycle_config"]["configSha256"] == find_pipeline(name).config_sha256
    for task in ("load_window", "score", "detect_drift", "decide", "act"):
        assert jobs[f"{name}__monitor.{task}"]["outputs"], task
    verdict = jobs[f"{name}__monitor.decide"]["run"]["facets"]["mlcycle_monitorVerdict"]
    assert verdict["status"] == lifecycle["window"].records["decision"]["status"] and verdict["severity"]
    move = jobs[f"{name}__rollback.rollback"]["run"]["facets"]["mlcycle_aliasMove"]
    assert (move["fromVersion"], move["toVersion"], move["why"]) == (
        lifecycle["v2"],
        lifecycle["v1"],
        "v2 misbehaves",
    )


def _moves_in_mlflow(version: str) -> list[tuple[str, str | None, str]]:
    return [
        (e["action"], e.get("from_version"), e["to_version"])
        for e in _registry().history()
        if e["alias"] == CHAMPION and version in (e.get("from_version"), e.get("to_version"))
    ]


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_the_chain_rebuilt_from_events_alone_matches_what_mlflow_says(
    lifecycle, demo_dir: Path, which
) -> None:
    version = lifecycle[which]
    graph = version_graph(load_events(load_settings().lineage_events), MODEL, version)
    tags = lineage(find_pipeline(lifecycle["name"]), load_settings(), version)
    assert graph["snapshot"]["uri"] == tags["snapshot_uri"]
    assert graph["snapshot"]["sha256"] == tags["snapshot_sha256"]
    assert graph["mlflow_run"] == tags["mlflow_run_id"]
    assert graph["config"]["configSha256"] == tags["config_sha256"]
    assert graph["config"]["gitCommit"] == tags["git_commit"]
    assert graph["gate"]["verdict"] == tags["validation"]
    assert graph["data_checks"]["success"] is True
    # every source file read, with the hash of its bytes
    files = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in demo_dir.glob("*.parquet")}
    assert graph["sources"] and {s["uri"]: s["sha256"] for s in graph["sources"]}.items() <= files.items()
    assert [(m["action"], m.get("fromVersion"), m["toVersion"]) for m in graph["moves"]] == _moves_in_mlflow(
        version
    )


def test_the_cli_prints_the_graph_from_files_to_alias_moves(lifecycle, capsys) -> None:
    assert main(["lineage", lifecycle["name"], lifecycle["v2"], "--graph"]) == 0
    out = capsys.readouterr().out
    assert "source files:" in out and "-> snapshot" in out and "-> model version" in out
    assert re.search(rf"promote\s+champion: v{lifecycle['v1']} -> v{lifecycle['v2']}", out), out
    assert re.search(rf"rollback\s+champion: v{lifecycle['v2']} -> v{lifecycle['v1']}", out), out


def test_history_at_names_the_champion_of_each_instant_and_what_scored_the_window(lifecycle, capsys) -> None:
    history = _registry().history()
    promoted_v2 = next(e for e in history if e["alias"] == CHAMPION and e["to_version"] == lifecycle["v2"])
    before = datetime.fromisoformat(promoted_v2["at"]) - timedelta(seconds=1)
    assert main(["history", lifecycle["name"], "--at", before.isoformat(), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["champion"] == lifecycle["v1"]
    assert main(["history", lifecycle["name"], "--at", promoted_v2["at"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["champion"] == lifecycle["v2"]
    assert main(["history", lifecycle["name"], "--at", "2000-01-01T00:00:00Z"]) == 0
    assert "no champion yet" in capsys.readouterr().out
    # the drifted window: scored by v1 (the champion then), as the ledger records
    assert main(["history", lifecycle["name"], "--at", "2026-05-15T00:00:00+00:00", "--json"]) == 0
    [window] = json.loads(capsys.readouterr().out)["windows"]
    assert window["model_version"] == lifecycle["v1"] and window["served_by"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_RUN_ROLLBACK_DAG = """
import sys
from datetime import UTC, datetime
from mlcycle.airflow.devrun import _state, _test_run, prepare_airflow
from mlcycle.airflow.factory import build_rollback_dag
from mlcycle.config.loader import find_pipeline
prepare_airflow()
conf = {"version": sys.argv[2], "reason": "dead endpoint"}
dr = _test_run(build_rollback_dag(find_pipeline(sys.argv[1])), datetime.now(UTC), conf)
print("STATE", _state(dr.state))
"""


def test_a_dead_lineage_endpoint_never_fails_a_task(lifecycle) -> None:
    """The rollback DAG with the HTTP transport at a port nobody listens on: the run succeeds."""
    dead = {"type": "http", "url": f"http://127.0.0.1:{_closed_port()}", "timeout": 2, "retry": {"total": 0}}
    env = {**os.environ, "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(dead)}
    before = len(_events())
    target = (
        lifecycle["v2"] if _registry().get_alias(CHAMPION).version != lifecycle["v2"] else lifecycle["v1"]
    )  # type: ignore[union-attr]
    proc = subprocess.run(  # a fresh process: the provider reads its transport once per process
        [sys.executable, "-c", _RUN_ROLLBACK_DAG, lifecycle["name"], target],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "STATE success" in output, output[-3000:]
    assert _registry().get_alias(CHAMPION).version == target  # type: ignore[union-attr]
    assert "Failed to emit OpenLineage" in output  # the transport was tried, failed, and was logged
    assert len(_events()) == before  # nothing went to the file transport instead
