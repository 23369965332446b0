"""Slice and fairness gates through real training DAG runs (dag.test, real MLflow store).

A weak champion (a balanced depth-2 tree, ROC AUC ~0.69) is promoted with a fairness figure that is
reported, not gated. Then a candidate that is better on average but trained on half-flipped labels for
``plan=premium`` is rejected by the slice gate, naming the slice, and by a fairness gate (two runs keep the
module cheap; the gates' independence is proved in tests/unit/core/decisions/test_gates.py). The champion
never moves after the first run, and each version's card (Markdown and HTML) records the outcomes.

MLflow here is a real ``mlflow server`` (SQLite backend, proxied artifacts; ~10 s to start), as the
issue asks; it needs no outside service, so the module runs with ``make test``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mlcycle.airflow.devrun import run_training
from mlcycle.config.settings import load_settings
from mlcycle.core.names import record_key
from mlcycle.core.summaries import RunSummary
from tests.support.fixtures import start_mlflow_server

from .conftest import LOGICAL_DATE

MODEL = "gates_churn"
CHAMPION_MODEL = {
    "estimator": "DecisionTreeClassifier",
    "params": {"max_depth": 2, "class_weight": "balanced"},
}
THRESHOLDS = {"roc_auc": 0.6, "f1": 0.0}  # replaces the demo's f1 floor, which a depth-2 tree misses
BASE: dict[str, Any] = {
    "registry": {"model_name": MODEL},
    "notifications": {"events": ["failure"], "slack_conn_id": None, "email": []},
}


def _registry() -> MlflowClient:
    uri = load_settings().tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _champion() -> str:
    return str(_registry().get_model_version_by_alias(MODEL, "champion").version)


def _premium_noise(demo_dir: Path, data_root: Path) -> str:
    """The demo data with half the ``plan=premium`` labels flipped before 2025-09 (the holdout, the
    latest 20% of 2025, keeps its true labels, so both models are scored on the same clean rows)."""
    frame = pd.concat([pd.read_parquet(p) for p in sorted(demo_dir.glob("*.parquet"))], ignore_index=True)
    flip = (
        (frame["plan"] == "premium")
        & (frame["event_time"] < pd.Timestamp("2025-09-01", tz="UTC"))
        & (np.random.default_rng(0).uniform(size=len(frame)) < 0.5)
    )
    frame.loc[flip, "churned"] = 1 - frame.loc[flip, "churned"]
    out = data_root / "gates" / "premium_noise"
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / "part.parquet")
    return "gates/premium_noise/*.parquet"


@pytest.fixture(scope="module")
def mlflow_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's tracking and registry server; the DAG runs and the assertions all talk to it."""
    tmp = tmp_path_factory.mktemp("gates-mlflow")
    server = start_mlflow_server(f"sqlite:///{tmp}/mlflow.db", str(tmp / "artifacts"), tmp)
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_TRACKING_URI", server.url)
    try:
        yield server.url
    finally:
        patch.undo()
        server.stop()


@pytest.fixture(scope="module")
def runs(
    mlflow_server_url: str, demo_dir: Path, data_root: Path, write_pipeline: Callable[..., str]
) -> dict[str, RunSummary]:
    assert load_settings().tracking_uri == mlflow_server_url
    out = {}
    champion = write_pipeline(
        "gates_champion",
        {
            **BASE,
            "model": CHAMPION_MODEL,
            "evaluation": {
                "thresholds": THRESHOLDS,
                # any gap exceeds 0.0: reported in the card and records, never blocking (gate false)
                "fairness": {"sensitive": "region", "metric": "positive_rate_difference", "threshold": 0.0},
            },
        },
    )
    out["champion"] = run_training(champion, logical_date=LOGICAL_DATE)
    noisy = write_pipeline(
        "gates_candidate",
        {
            **BASE,
            "data": {"source": _premium_noise(demo_dir, data_root)},
            "evaluation": {
                "thresholds": THRESHOLDS,
                "slices": ["plan"],
                "slice_gate": {"max_regression": 0.05},
                "fairness": {
                    "sensitive": "region",
                    "metric": "recall_difference",
                    "threshold": 0.01,
                    "gate": True,
                },
            },
        },
    )
    out["candidate"] = run_training(noisy, logical_date=LOGICAL_DATE)
    return out


def _card(summary: RunSummary, name: str) -> str:
    path = Path(load_settings().artifact_root, record_key(summary.dag_id, summary.run_id, name))
    return path.read_text()


def test_fairness_is_reported_not_gated_and_the_card_shows_it(runs: dict[str, RunSummary]) -> None:
    s = runs["champion"]
    assert s.state == "success", s.render()
    assert s.records["promotion"]["promoted"] is True
    report = s.records["evaluation"]["fairness"]
    assert report["sensitive"] == "region" and report["value"] > 0
    assert {g["value"] for g in s.records["evaluation"]["fairness"]["groups"]} == {
        "east",
        "north",
        "south",
        "west",
    }
    fair = s.records["decision"]["fairness"]
    assert fair["status"] == "failed" and fair["gated"] is False
    assert any("exceeds threshold 0.0" in r and "not gated" in r for r in s.records["decision"]["reasons"])

    run = _registry().get_run(_registry().get_model_version(MODEL, _champion()).run_id)
    assert run.data.metrics["fairness_positive_rate_difference"] == pytest.approx(report["value"])
    assert "fairness_region_west_positive_rate" in run.data.metrics
    mlflow.set_tracking_uri(load_settings().tracking_uri)
    page = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/model_card/model_card.html")
    assert page == _card(s, "model_card.html")
    assert "<h2>Fairness</h2>" in page and "<td>region = west</td>" in page
    assert "reported, not a gate" in page


def test_candidate_better_on_average_but_worse_on_a_slice_is_rejected(runs: dict[str, RunSummary]) -> None:
    champion = runs["champion"].records["promotion"]["version"]
    s = runs["candidate"]
    assert s.state == "success", s.render()
    ev, decision = s.records["evaluation"], s.records["decision"]
    assert ev["champion"]["version"] == champion
    assert ev["candidate"]["roc_auc"] > ev["champion"]["metrics"]["roc_auc"]  # better on average
    assert decision["verdict"] == "rejected"
    [failure] = [r for r in decision["reasons"] if "more than the 0.05 allowed" in r]
    assert failure.startswith("slice plan=premium: roc_auc ") and f"vs champion v{champion}" in failure
    status = {c["value"]: c["status"] for c in decision["slices"]}
    assert status == {"basic": "passed", "premium": "failed", "standard": "passed"}
    assert s.records["promotion"]["promoted"] is False and _champion() == champion
    card = _card(s, "model_card.md")
    assert "| plan = premium |" in card and "| failed |" in card and "## Gate: rejected" in card


def test_fairness_gate_rejects_a_candidate_over_the_threshold(runs: dict[str, RunSummary]) -> None:
    s = runs["candidate"]
    decision = s.records["decision"]
    assert decision["fairness"]["gated"] is True and decision["fairness"]["status"] == "failed"
    [failure] = [r for r in decision["reasons"] if r.startswith("fairness recall_difference across region")]
    assert "exceeds threshold 0.01" in failure and "recall: lowest" in failure
    assert s.records["evaluation"]["fairness"]["champion_value"] is not None  # the champion's own figure
    card = _card(s, "model_card.md")
    assert "- Verdict: **failed**" in card and "champion on the same holdout" in card
