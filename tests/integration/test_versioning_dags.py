"""Versioning through real DAG runs (dag.test): manual approval, lineage of a trained version,
the rollback DAG, and the CLI reading it all back from MLflow."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlcycle.adapters.lineage_events import read_event_dicts
from mlcycle.adapters.registry import MlflowRegistry
from mlcycle.airflow.devrun import _state, _test_run, run_training
from mlcycle.airflow.factory import build_approve_dag, build_rollback_dag
from mlcycle.cli.main import main
from mlcycle.config.loader import find_pipeline
from mlcycle.config.settings import load_settings
from mlcycle.core.names import CHALLENGER, CHAMPION
from mlcycle.ops.lineage import lineage

from .conftest import LOGICAL_DATE

MODEL = "vers_model"


def _registry() -> MlflowRegistry:
    return MlflowRegistry(MODEL, load_settings().tracking_uri)


def _alias(alias: str) -> str | None:
    ref = _registry().get_alias(alias)
    return ref.version if ref else None


def _run_manual(build: Callable[..., Any], conf: dict[str, Any]) -> tuple[str, str]:
    """Trigger a freshly built manual DAG (dag.test keeps a run's conf in the DAG's params)."""
    dr = _test_run(build(find_pipeline("vers_manual")), datetime.now(UTC), conf)
    return _state(dr.state), dr.run_id


@pytest.fixture(scope="module")
def manual_run(demo_dir: Path, write_pipeline: Callable[..., str]):
    name = write_pipeline(
        "vers_manual",
        {
            "registry": {"model_name": MODEL},
            "promotion": {"mode": "manual"},
            "model_card": {
                "intended_use": "Churn scoring for retention offers.",
                "known_limitations": ["Not for credit decisions."],
            },
        },
    )
    return run_training(name, logical_date=LOGICAL_DATE)


def test_manual_mode_waits_as_challenger_then_the_approve_dag_promotes(manual_run, capsys) -> None:
    s = manual_run
    assert s.state == "success", s.render()
    promo = s.records["promotion"]
    assert promo["promoted"] is False and promo["awaiting_approval"] is True
    assert "vers_manual__approve" in promo["why"]
    assert _alias(CHAMPION) is None and _alias(CHALLENGER) == promo["version"]

    dag = build_approve_dag
    state, run_id = _run_manual(dag, {"reason": "reviewed the holdout and slices"})
    assert state == "success"
    assert _alias(CHAMPION) == promo["version"]
    events = _registry().history()
    assert [(e["action"], e["alias"], e["to_version"]) for e in events] == [
        ("challenger", CHALLENGER, promo["version"]),
        ("approve", CHAMPION, promo["version"]),
    ]
    assert events[0]["via"] == f"DAG vers_manual__train run {s.run_id}"
    assert events[1]["via"] == f"DAG vers_manual__approve run {run_id}"
    assert events[1]["reason"] == "reviewed the holdout and slices"
    # the approval's OpenLineage event: the champion's move to the version (docs/lineage.md)
    moves = [
        e["run"]["facets"]["mlcycle_aliasMove"]
        for e in read_event_dicts(load_settings().lineage_events)
        if e["job"]["name"] == "vers_manual__approve.approve" and e["eventType"] == "COMPLETE"
    ]
    assert [(m["action"], m["alias"], m["toVersion"], m["why"]) for m in moves] == [
        ("approve", CHAMPION, promo["version"], "reviewed the holdout and slices")
    ]

    # approving again: nothing waits that is not already champion; the run fails and moves nothing
    state, _ = _run_manual(dag, {"reason": "again"})
    assert state == "failed"
    assert len(_registry().history()) == 2


def test_lineage_of_a_version_trained_by_a_real_dag_run_is_complete(manual_run, capsys) -> None:
    s = manual_run
    version = s.records["promotion"]["version"]
    lin = lineage(find_pipeline("vers_manual"), load_settings(), version)
    assert lin["missing"] == []
    snap = s.records["ingest"]
    assert lin["snapshot_uri"] == snap["uri"] and lin["snapshot_sha256"] == snap["sha256"]
    assert lin["rows"] == snap["rows"]
    assert lin["window"] == f"{snap['window_start']}..{snap['window_end']}"
    assert lin["data_checks"].startswith("passed: 9/9 expectations passed")
    assert lin["data_checks_detail"]["success"] is True
    assert lin["config_verified"] is True and "mode: manual" in lin["config_content"]
    assert len(lin["git_commit"]) == 40 and lin["git_commit_source"].startswith("git rev-parse HEAD")
    assert {"mlflow", "scikit-learn", "apache-airflow"} <= set(lin["packages"])
    assert lin["airflow_dag_id"] == "vers_manual__train" and lin["airflow_run_id"] == s.run_id
    assert lin["airflow_logical_date"] == LOGICAL_DATE
    run = _registry().client.get_run(lin["mlflow_run_id"])
    assert run.data.tags["airflow.run_id"] == s.run_id  # the run this DAG run trained
    assert lin["replaced"] == "none"  # approved while there was no champion

    card_uri = _registry().version_tags(version)["mlcycle.model_card"]
    assert card_uri == f"runs:/{lin['mlflow_run_id']}/model_card/model_card.md"
    assert s.records["promotion"]["model_card"] == card_uri
    import mlflow

    mlflow.set_tracking_uri(load_settings().tracking_uri)
    card = mlflow.artifacts.load_text(card_uri)
    assert f"# Model card: {MODEL} v{version}" in card
    assert "Churn scoring for retention offers" in card  # intended use, from the YAML
    assert snap["sha256"] in card and f"Rows: {snap['rows']}" in card
    assert "Passed: 9/9" in card and "| plan = basic |" in card  # checks and per-slice metrics
    assert "No champion when this version was evaluated." in card
    assert "Not for credit decisions." in card  # known limitations, from the YAML

    assert main(["lineage", "vers_manual", version]) == 0
    out = capsys.readouterr().out
    assert snap["sha256"] in out and "content matches" in out and "NOT RECORDED" not in out


def test_rollback_dag_after_a_later_promotion_and_the_cli_views(
    manual_run, write_pipeline: Callable[..., str], capsys
) -> None:
    first = manual_run.records["promotion"]["version"]
    if _alias(CHAMPION) is None:  # run on its own (-k): approve the waiting challenger from the CLI
        assert main(["approve", "vers_manual", "--reason", "setup", "--by", "dave"]) == 0
    assert _alias(CHAMPION) == first
    name = write_pipeline("vers_auto", {"registry": {"model_name": MODEL}})
    second = run_training(name, logical_date=LOGICAL_DATE)
    assert second.state == "success", second.render()
    v2 = second.records["promotion"]["version"]
    assert second.records["promotion"]["promoted"] is True and _alias(CHAMPION) == v2

    dag = build_rollback_dag
    state, _ = _run_manual(dag, {"version": "99", "reason": "typo"})
    assert state == "failed" and _alias(CHAMPION) == v2  # no such version: refused, nothing moved
    state, run_id = _run_manual(dag, {"reason": "v2 misbehaves in production"})
    assert state == "success"
    assert _alias(CHAMPION) == first
    last = _registry().history()[-1]
    assert (last["action"], last["from_version"], last["to_version"]) == ("rollback", v2, first)
    assert last["via"] == f"DAG vers_manual__rollback run {run_id}"

    assert main(["history", "vers_manual"]) == 0
    out = capsys.readouterr().out
    assert f"champion: v{v2} -> v{first}" in out and "v2 misbehaves in production" in out
    assert main(["status", "vers_manual", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["champion"]["version"] == first
    assert status["champion"]["last_move"]["action"] == "rollback"
    assert status["champion"]["metrics"]["roc_auc"] > 0.7
    assert status["last_training"]["airflow_run_id"] == manual_run.run_id  # this pipeline's own experiment
    assert status["promotion_mode"] == "manual"
    assert main(["rollback", "vers_manual", "--to", v2, "--reason", "back again", "--by", "carol"]) == 0
    assert _alias(CHAMPION) == v2
    assert _registry().history()[-1]["by"] == "carol"
