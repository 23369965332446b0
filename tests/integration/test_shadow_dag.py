"""Shadow mode end to end against a real ``mlflow server``: a challenger is scored beside the champion
by the monitor DAG (dag.test) and promoted or rejected on the labeled windows; the served table is untouched."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mlcycle.adapters.registry import MlflowRegistry
from mlcycle.airflow.devrun import run_monitoring, run_training
from mlcycle.cli.main import main
from mlcycle.config.loader import find_pipeline
from mlcycle.config.settings import load_settings
from mlcycle.core.names import CHALLENGER, CHAMPION, Tag
from mlcycle.core.records import ShadowScore
from mlcycle.steps.context import RunContext, open_env
from mlcycle.steps.monitor.shadow import judge_shadow
from tests.integration.conftest import SCORING_MONITOR
from tests.support.fixtures import start_mlflow_server

MODEL = "shadow_churn"
TRAIN_DATE = "2025-10-01T00:00:00+00:00"  # trains on 2025-01..09; windows 2025-10 and 2025-11 are stable
W1, W2 = datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC)
RUN_COLUMNS = ["run_id", "scored_at"]  # differ per run by design; everything else must be identical


def _registry() -> MlflowRegistry:
    return MlflowRegistry(MODEL, load_settings().tracking_uri)


def _alias(alias: str) -> str | None:
    ref = _registry().get_alias(alias)
    return ref.version if ref else None


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` (SQLite backend, proxied artifacts) as this module's tracking URI."""
    work = tmp_path_factory.mktemp("shadow-mlflow")
    server = start_mlflow_server(f"sqlite:///{work / 'mlflow.db'}", str(work / "artifacts"), work)
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = server.url
    try:
        yield server.url
    finally:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before
        server.stop()


def _pipeline(write: Callable[..., str], name: str, model: dict, evaluation: dict, shadow: dict) -> str:
    return write(
        name,
        {
            "registry": {"model_name": MODEL},
            "model": {"split": {"strategy": "time", "test_size": 0.2}, **model},
            "evaluation": {
                "slice_gate": None,
                **evaluation,
            },  # this module tests the shadow verdict, not the gate
            "promotion": {"mode": "shadow", "shadow": shadow},
            "notifications": {
                "events": ["failure", "promotion"],
                "slack_conn_id": "slack_default",
                "email": [],
            },
            "monitoring": SCORING_MONITOR,
        },
    )


@pytest.fixture(scope="module")
def shadowed(mlflow_url: str, demo_dir: Path, write_pipeline: Callable[..., str]) -> dict:
    """A weak champion (a stump), a window it served alone, then a strong challenger trained in shadow."""
    loose = {"thresholds": {"roc_auc": 0.4, "f1": 0.0}}
    weak = _pipeline(
        write_pipeline,
        "shadow_weak",
        {"estimator": "DecisionTreeClassifier", "params": {"max_depth": 1}},
        loose,
        {"windows": 2, "min_labeled_windows": 2},
    )
    strong = _pipeline(
        write_pipeline,
        "shadow_strong",
        {"params": {"max_iter": 40, "max_depth": 4}},
        loose,
        {"windows": 2, "min_labeled_windows": 2},
    )
    first = run_training(weak, logical_date=TRAIN_DATE)
    assert first.succeeded, first.render()
    # shadow mode with no champion yet: nothing to shadow against, the first model is promoted
    assert first.records["promotion"]["promoted"] is True
    champion = first.records["promotion"]["version"]

    [alone] = run_monitoring(strong, [W1])
    assert alone.state == "success", alone.task_states
    assert alone.records["shadow"] == {"active": False, "why": "no challenger in shadow"}
    assert alone.records["shadow_decision"]["outcome"] == "none"
    served_alone = pd.read_parquet(alone.records["score"]["predictions_uri"])

    second = run_training(strong, logical_date=TRAIN_DATE)
    assert second.succeeded, second.render()
    return {
        "weak": weak,
        "strong": strong,
        "champion": champion,
        "alone": alone,
        "served_alone": served_alone,
        "challenger": second.records["promotion"],
    }


def _shadow_records(summary) -> tuple[dict, dict]:
    return summary.records["shadow"], summary.records["shadow_decision"]


def test_better_challenger_is_scored_in_shadow_then_promoted(
    shadowed, slack_receiver, monkeypatch, capsys
) -> None:
    for key, value in slack_receiver.airflow_conn_env().items():
        monkeypatch.setenv(key, value)
    champion, promo = shadowed["champion"], shadowed["challenger"]
    challenger = promo["version"]
    assert promo["promoted"] is False and promo["in_shadow"] is True, promo
    assert "shadow_strong__monitor" in promo["why"]
    assert _alias(CHAMPION) == champion and _alias(CHALLENGER) == challenger
    event = _registry().history()[-1]
    assert (event["action"], event["alias"], event["to_version"]) == ("challenger", CHALLENGER, challenger)
    assert "promotion.mode is shadow" in event["reason"]

    # window 1: the challenger is scored on the side; the served table is what the champion alone produced
    [first] = run_monitoring(shadowed["strong"], [W1])
    assert first.state == "success", first.task_states
    assert first.task_states["shadow_score"] == "success" and first.task_states["shadow_decide"] == "success"
    shadow, decision = _shadow_records(first)
    assert shadow["active"] is True and shadow["challenger_version"] == challenger
    assert decision["outcome"] == "pending" and _alias(CHAMPION) == champion
    served = pd.read_parquet(first.records["score"]["predictions_uri"])
    pd.testing.assert_frame_equal(
        served.drop(columns=RUN_COLUMNS), shadowed["served_alone"].drop(columns=RUN_COLUMNS)
    )
    assert set(served["model_version"]) == {champion} and "shadow" not in served
    assert first.records["score"] == shadowed["alone"].records["score"]  # same record, same keys
    side = pd.read_parquet(shadow["predictions_uri"])
    assert "/shadow/shadow_strong/" in shadow["predictions_uri"]
    assert side["shadow"].all() and not side["served"].any() and set(side["model_version"]) == {challenger}
    assert (side["prediction_id"] == served["prediction_id"]).all()
    assert (side["champion_probability"] == served["probability"]).all()
    assert shadow["challenger"] > shadow["champion"], shadow  # roc_auc on the window's labels

    # status shows the running comparison and the monitoring half (recent runs and their outcomes)
    capsys.readouterr()  # drop the DAG runs' log lines
    assert main(["status", "shadow_strong", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    sh = status["shadow"]
    assert (sh["challenger_version"], sh["against_champion"]) == (challenger, champion)
    assert (sh["windows_scored"], sh["windows_labeled"], sh["windows_needed"]) == (1, 1, 2)
    assert sh["next_verdict"] == "pending" and sh["mean_gain"] > 0
    recent = status["recent_monitoring"]
    assert [m["airflow_run_id"] for m in recent] == [first.run_id, shadowed["alone"].run_id]
    assert status["last_monitoring"] == recent[0]
    assert recent[0]["verdict"] == "ok" and recent[0]["model_version"] == champion
    assert recent[0]["window"] == first.records["window"]["window_key"]
    assert main(["status", "shadow_strong"]) == 0
    text = capsys.readouterr().out
    assert f"shadow: v{challenger} vs champion v{champion}: 1 of 2 window(s) scored, 1 labeled" in text
    assert (
        f"last monitoring: window {recent[0]['window']} scored by v{champion}" in text and "earlier:" in text
    )

    # window 2: enough labeled windows, the challenger beats the champion on both: promoted
    [second] = run_monitoring(shadowed["strong"], [W2])
    assert second.state == "success", second.task_states
    _, decision = _shadow_records(second)
    assert decision["outcome"] == "promote" and decision["labeled"] == 2, decision
    assert _alias(CHAMPION) == challenger
    event = _registry().history()[-1]
    assert (event["action"], event["alias"], event["from_version"], event["to_version"]) == (
        "shadow_promote",
        CHAMPION,
        champion,
        challenger,
    )
    assert event["reason"].startswith(f"shadow: beats champion v{champion}")
    assert event["via"] == f"DAG shadow_strong__monitor run {second.run_id}"
    tags = _registry().version_tags(challenger)
    assert tags["mlcycle.promotion"] == "promoted (shadow)" and tags["mlcycle.replaced"] == champion
    assert len([k for k in tags if k.startswith(Tag.SHADOW_WINDOW_PREFIX)]) == 2
    assert json.loads(tags["mlcycle.shadow.verdict"])["outcome"] == "promote"
    [post] = slack_receiver.wait_for(1)
    assert f"challenger v{challenger} in shadow promoted to champion" in post.json["text"]

    # a retried shadow_decide after the promotion took effect changes nothing
    env = open_env(find_pipeline("shadow_strong").path, RunContext("shadow_strong__monitor", "retry", "-"))
    again = judge_shadow(env, ShadowScore.from_xcom(second.records["shadow"]))
    assert again.to_xcom() == {
        "outcome": "none",
        "why": f"v{challenger} is no longer the challenger in shadow",
    }
    assert _alias(CHAMPION) == challenger and _alias(CHALLENGER) == challenger
    assert _registry().history()[-1]["action"] == "shadow_promote"


def test_worse_challenger_is_rejected_and_the_champion_stays(
    shadowed, write_pipeline: Callable[..., str], slack_receiver, monkeypatch
) -> None:
    for key, value in slack_receiver.airflow_conn_env().items():
        monkeypatch.setenv(key, value)
    champion = _alias(CHAMPION)
    assert champion == shadowed["challenger"]["version"], "runs after the promotion test"
    dummy = _pipeline(
        write_pipeline,
        "shadow_dummy",
        {"estimator": "DummyClassifier", "params": {}},
        {"thresholds": {"roc_auc": 0.4, "f1": 0.0}, "max_regression": 0.6},
        {"windows": 1, "min_labeled_windows": 1},
    )
    trained = run_training(dummy, logical_date=TRAIN_DATE)
    assert trained.succeeded, trained.render()
    worse = trained.records["promotion"]["version"]
    assert trained.records["promotion"]["in_shadow"] is True and _alias(CHALLENGER) == worse

    [run] = run_monitoring(dummy, [W2])
    assert run.state == "success", run.task_states
    shadow, decision = _shadow_records(run)
    assert shadow["challenger"] < shadow["champion"]
    assert decision["outcome"] == "reject" and decision["challenger_cleared"] is True, decision
    assert _alias(CHAMPION) == champion and _alias(CHALLENGER) is None
    event = _registry().history()[-1]
    assert (event["action"], event["alias"], event["from_version"], event["to_version"]) == (
        "shadow_reject",
        CHALLENGER,
        worse,
        None,
    )
    assert event["reason"].startswith(f"shadow: does not beat champion v{champion}")
    assert "worse on 1 of 1 labeled window(s)" in event["reason"]
    assert _registry().version_tags(worse)["mlcycle.promotion"] == "rejected in shadow"
    [post] = slack_receiver.wait_for(1)
    assert f"challenger v{worse} in shadow rejected" in post.json["text"]
