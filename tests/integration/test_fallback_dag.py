"""Fallback serving, stored postprocess rules and tampered artifacts, on a model trained by a real
training DAG run and scored by the real monitor DAG (``dag.test()``) and its ``score`` step."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
from mlflow import MlflowClient

from mlcycle.airflow.devrun import run_monitoring, run_training
from mlcycle.config.loader import config_dir
from mlcycle.config.settings import load_settings
from mlcycle.core.names import Artifact, Tag
from mlcycle.errors import FallbackError
from mlcycle.steps.context import RunContext, open_env
from mlcycle.steps.monitor.score import score
from mlcycle.steps.monitor.window import load_window
from tests.integration.conftest import SCORING_MONITOR
from tests.unit.adapters.test_tampered_model import Payload

MODEL = "fb_churn"
TRAIN_DATE = "2025-10-01T00:00:00+00:00"
START, END = datetime(2025, 10, 1, tzinfo=UTC), datetime(2025, 11, 1, tzinfo=UTC)
STORED_RULE = {
    "name": "new_customer",
    "when": [{"column": "tenure_months", "op": "lt", "value": 6}],
    "then": "review",
}
LATER_RULE = {
    "name": "cheap_plan",
    "when": [{"column": "plan", "op": "eq", "value": "basic"}],
    "then": "other",
}


def _client() -> MlflowClient:
    uri = load_settings().tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _local(uri: str) -> Path:
    return Path(urlparse(uri).path)


def _pipeline(write_pipeline: Callable[..., str], rules: list[dict]) -> str:
    return write_pipeline(
        "fb",
        {
            "registry": {"model_name": MODEL},
            "notifications": {
                "events": ["failure"],
                "slack_conn_id": "slack_default",
                "smtp_conn_id": "smtp_default",
                "email": ["oncall@example.com"],
            },
            "postprocess": {"rules": rules},
            # a quick model and gate: this module is about serving, not model quality
            "model": {"estimator": "LogisticRegression", "params": {}},
            "evaluation": {"thresholds": {"roc_auc": 0.6, "f1": 0.0}, "slices": [], "slice_gate": None},
            "checks": {"min_rows": 1000, "expectations": []},
            "monitoring": SCORING_MONITOR,
        },
    )


@pytest.fixture(scope="module")
def champion(demo_dir: Path, write_pipeline: Callable[..., str]) -> dict[str, str]:
    """v1 of ``fb_churn``, trained by the training DAG with one postprocess rule; its version tags."""
    name = _pipeline(write_pipeline, [STORED_RULE])
    trained = run_training(name, logical_date=TRAIN_DATE)
    assert trained.succeeded, trained.render()
    version = _client().get_model_version_by_alias(MODEL, "champion")
    return {"name": name, "version": str(version.version), "run_id": str(version.run_id), **version.tags}


@pytest.fixture
def model_dir(champion: dict[str, str]) -> Iterator[Path]:
    """The champion's model files on disk, restored after the test whatever it did to them."""
    source = _local(_client().get_model_version(MODEL, champion["version"]).source)
    backup = source.with_name(source.name + ".bak")
    shutil.copytree(source, backup)
    yield source
    shutil.rmtree(source, ignore_errors=True)
    backup.rename(source)


def _score(name: str, run: str, notify: Callable[[str], dict[str, str]]) -> dict:
    path = str(config_dir() / f"{name}.yaml")
    env = open_env(path, RunContext(f"{name}__monitor", run, END.isoformat()))
    return score(env, load_window(env, START, END), notify=notify).to_xcom()


def test_champion_serves_with_checksums_and_its_stored_rules(champion: dict[str, str]) -> None:
    assert len(champion[Tag.MODEL_SHA256]) == 64 and "model.skops" in json.loads(champion[Tag.MODEL_FILES])
    assert len(champion[Tag.FALLBACK_SHA256]) == 64 and champion["mlcycle.fallback_kind"] == "majority"
    assert len(champion[Tag.RULES_SHA256]) == 64
    sent: list[str] = []
    record = _score(champion["name"], "manual__healthy", lambda text: sent.append(text) or {})
    assert record["served_by"] == "champion" and record["fallback"]["used"] is False and sent == []
    preds = pd.read_parquet(record["predictions_uri"])
    new = preds["tenure_months"] < 6
    assert new.any() and (~new).any()
    assert (preds.loc[new, "prediction"] == "review").all() and (
        preds.loc[new, "rule"] == "new_customer"
    ).all()
    assert preds.loc[~new, "rule"].isna().all()
    assert (preds.loc[~new, "prediction"] == preds.loc[~new, "model_prediction"].astype(str)).all()
    assert set(preds["served_by"]) == {"champion"}
    assert record["postprocess"]["fired"] == {"new_customer": int(new.sum())}


def test_tampered_artifact_is_refused_no_code_runs_and_the_fallback_serves(
    champion: dict[str, str], model_dir: Path, tmp_path: Path
) -> None:
    """Scenario 19: the model file replaced by a pickle payload."""
    marker = tmp_path / "pwned"
    import pickle  # nosec B403  # writes the payload the loader must refuse

    (model_dir / "model.skops").write_bytes(pickle.dumps(Payload(marker)))
    sent: list[str] = []
    record = _score(champion["name"], "manual__tampered", lambda text: sent.append(text) or {})
    assert not marker.exists()
    reason = record["fallback"]["reason"]
    assert reason.startswith("ModelIntegrityError: model 'fb_churn' version 1")
    assert "changed: ['model.skops']" in reason
    assert record["served_by"] == "fallback" and record["fallback"]["kind"] == "majority"
    assert record["fallback"]["notified"] == {"sent": True, "failures": {}}
    [text] = sent
    assert "scored by the FALLBACK (majority), not champion v1" in text and "model.skops" in text
    preds = pd.read_parquet(record["predictions_uri"])
    assert set(preds["served_by"]) == {"fallback"} and set(preds["model_prediction"]) == {0}


def test_no_usable_fallback_fails_clearly(champion: dict[str, str], model_dir: Path) -> None:
    shutil.rmtree(model_dir)
    run = _client().get_run(champion["run_id"])
    fallback_file = _local(run.info.artifact_uri) / Artifact.FALLBACK
    original = fallback_file.read_bytes()
    fallback_file.write_bytes(original.replace(b'"majority"', b'"rules"'))
    try:
        with pytest.raises(FallbackError) as info:
            _score(champion["name"], "manual__nothing", lambda text: {})
    finally:
        fallback_file.write_bytes(original)
    message = str(info.value)
    assert "model 'fb_churn' version 1" in message and "no usable fallback" in message
    assert f"{Artifact.FALLBACK} of run {champion['run_id']} has sha256" in message
    assert "mlcycle rollback fb" in message


def test_missing_artifact_monitor_dag_serves_the_fallback_loudly_with_the_stored_rules(
    champion: dict[str, str],
    model_dir: Path,
    write_pipeline: Callable[..., str],
    smtp_server,
    slack_receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in {**smtp_server.airflow_conn_env(), **slack_receiver.airflow_conn_env()}.items():
        monkeypatch.setenv(key, value)
    shutil.rmtree(model_dir)
    _pipeline(write_pipeline, [LATER_RULE])  # today's YAML differs: the version's stored rules apply
    try:
        [w] = run_monitoring(champion["name"], [END])
    finally:
        _pipeline(write_pipeline, [STORED_RULE])
    assert w.state == "success", w.task_states
    score = w.records["score"]
    assert score["served_by"] == "fallback" and score["model_version"] == champion["version"]
    assert "fb_churn" in score["fallback"]["reason"] and score["fallback"]["notified"]["failures"] == {}

    preds = pd.read_parquet(score["predictions_uri"])
    assert len(preds) == w.records["window"]["rows"]
    assert set(preds["served_by"]) == {"fallback"}  # every row flagged
    assert set(preds["rule"].dropna()) == {"new_customer"} and "other" not in set(preds["prediction"])
    assert set(preds.loc[preds["rule"].isna(), "prediction"]) == {"0"}  # the majority class
    assert score["quality"]["skipped"].startswith("scored by the fallback")

    [email] = smtp_server.wait_for(1)
    assert "FALLBACK" in email.subject and email.envelope_to == ["oncall@example.com"]
    [post] = slack_receiver.wait_for(1)
    assert "scored by the FALLBACK (majority), not champion v1" in post.json["text"]

    drift = w.records["drift"]
    assert drift["dataset"].get("prediction") is None  # the heuristic's output is not champion drift
    run = _client().get_run(drift["mlflow_run_id"])
    assert run.data.tags["mlcycle.served_by"] == "fallback"
    assert "fb_churn" in run.data.tags["mlcycle.fallback_reason"]
    assert len(smtp_server.messages) == 1 and len(slack_receiver.requests) == 1
