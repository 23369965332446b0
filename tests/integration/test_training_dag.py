"""The training DAG end to end with dag.test(): champion, rejected challenger, bad data, notifications."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from mlcycle.airflow.devrun import run_training
from mlcycle.config.settings import load_settings
from mlcycle.core.names import record_key
from tests.integration.conftest import DEMO_YAML

from .conftest import LOGICAL_DATE

MODEL = "e2e_churn"


def _registry() -> MlflowClient:
    uri = load_settings().tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _champion() -> str | None:
    try:
        return str(_registry().get_model_version_by_alias(MODEL, "champion").version)
    except Exception:
        return None


def _versions() -> list[str]:
    return sorted(str(v.version) for v in _registry().search_model_versions(f"name = '{MODEL}'"))


@pytest.fixture(scope="module")
def first_run(demo_dir: Path, write_pipeline: Callable[..., str]):
    name = write_pipeline("e2e_good", {"registry": {"model_name": MODEL}})
    return run_training(name, logical_date=LOGICAL_DATE)


def test_first_run_trains_validates_and_promotes_a_champion(first_run) -> None:
    s = first_run
    assert s.state == "success", s.render()
    assert set(s.task_states.values()) == {"success"}
    snap = s.records["ingest"]
    assert snap["window_start"] == "2025-01-01T00:00:00+00:00"
    assert snap["window_end"] == "2026-01-01T00:00:00+00:00"
    assert 7000 < snap["rows"] < 9000  # the 2025 share of 12k rows over 18 months
    assert Path(snap["uri"]).is_file() and snap["sha256"] in snap["uri"]
    assert s.records["data_checks"]["success"] is True
    assert s.records["evaluation"]["candidate"]["roc_auc"] > 0.7
    assert s.records["decision"]["verdict"] == "passed"
    promo = s.records["promotion"]
    assert promo["promoted"] is True and promo["champion"] == promo["version"]
    assert _champion() == promo["version"]

    version = _registry().get_model_version(MODEL, promo["version"])
    assert version.tags["mlcycle.validation"] == "passed"
    assert version.tags["mlcycle.snapshot_sha256"] == snap["sha256"]
    assert version.tags["airflow.dag_id"] == "e2e_good__train"
    run = _registry().get_run(version.run_id)
    assert run.data.tags["mlcycle.config_sha256"] == version.tags["mlcycle.config_sha256"]
    assert run.data.tags["mlcycle.snapshot_uri"] == snap["uri"]
    assert run.data.tags["airflow.run_id"] == s.run_id
    assert "test_roc_auc" in run.data.metrics
    artifacts = {a.path for a in _registry().list_artifacts(version.run_id, "plots")}
    assert {"plots/confusion_matrix.png", "plots/roc_curve.png"} <= artifacts
    assert f"champion is now v{promo['version']}" in s.render()


def test_worse_model_is_rejected_and_champion_stays(first_run, write_pipeline: Callable[..., str]) -> None:
    champion = _champion()
    name = write_pipeline(
        "e2e_worse",
        {
            "registry": {"model_name": MODEL},
            "model": {"estimator": "DecisionTreeClassifier", "params": {"max_depth": 1}},
            "evaluation": {"thresholds": {"roc_auc": 0.5}},
        },
    )
    s = run_training(name, logical_date=LOGICAL_DATE)
    assert s.state == "success", s.render()
    decision = s.records["decision"]
    assert decision["verdict"] == "rejected"
    assert decision["champion_version"] == champion
    assert any("vs champion" in r and "roc_auc" in r for r in decision["reasons"]), decision["reasons"]
    promo = s.records["promotion"]
    assert promo["promoted"] is False
    assert _champion() == champion
    assert _registry().get_model_version(MODEL, promo["version"]).tags["mlcycle.validation"] == "rejected"


def _bad_pipeline(write_pipeline: Callable[..., str], name: str, source: str) -> str:
    return write_pipeline(
        name,
        {
            "retries": 2,  # data-check failures must not be retried; the email says which try failed
            "retry_delay_minutes": 0.05,
            "registry": {"model_name": MODEL},
            "data": {"source": source, "format": "auto"},
            "notifications": {
                "events": ["failure"],
                "slack_conn_id": "slack_default",
                "smtp_conn_id": "smtp_default",
                "email": ["oncall@example.com"],
            },
        },
    )


def _frame(demo_dir: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(demo_dir.glob("*.parquet"))], ignore_index=True)


def _assert_failed_at(summary, task: str) -> None:
    assert summary.state == "failed", summary.render()
    assert summary.task_states[task] == "failed", summary.task_states
    later = ["ingest", "check_data", "train", "evaluate", "validate_model", "register_and_promote"]
    for t in later[later.index(task) + 1 :]:
        assert summary.task_states[t] == "upstream_failed", summary.task_states


# the sentinel and an unreadable Parquet file also run in tests/integration/reliability/test_bad_input.py
BAD_DATA = ["nulls_in_target", "empty_file"]


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_fails_in_the_right_task_notifies_and_moves_nothing(
    case: str, first_run, demo_dir: Path, data_root: Path, write_pipeline, notify_env
) -> None:
    smtp, slack = notify_env
    champion, versions = _champion(), _versions()
    bad = data_root / "bad" / case
    bad.mkdir(parents=True, exist_ok=True)
    frame = _frame(demo_dir)
    in_window = frame["event_time"] < pd.Timestamp("2026-01-01", tz="UTC")
    if case == "nulls_in_target":
        # a few null targets are late labels (dropped, counted); this many is a broken column
        frame["churned"] = frame["churned"].astype("float64")
        rows = frame.index[in_window]
        frame.loc[rows[: int(len(rows) * 0.4)], "churned"] = None
        frame.to_parquet(bad / "part.parquet")
        task, expected = "ingest", ["no 'churned' (data.target)", "checks.max_unlabelled_share (0.3)"]
    else:
        frame.head(0).to_csv(bad / "part.csv", index=False)
        task, expected = "ingest", [str(bad / "*.csv"), "no rows in the training window"]
    suffix = "csv" if case == "empty_file" else "parquet"
    name = _bad_pipeline(write_pipeline, f"e2e_bad_{case}", f"bad/{case}/*.{suffix}")

    summary = run_training(name, logical_date=LOGICAL_DATE)

    _assert_failed_at(summary, task)
    assert _champion() == champion
    assert _versions() == versions
    [email] = smtp.wait_for(1)
    assert email.envelope_to == ["oncall@example.com"]
    assert f"e2e_bad_{case}__train" in email.subject and task in email.subject
    body = html.unescape(email.body)
    if task == "check_data":
        assert "(try 1)" in body, body
    for fragment in expected:
        assert fragment in body, (fragment, body)
    [post] = slack.wait_for(1)
    text = post.json["text"]
    assert f"task: {task}" in text and f"e2e_bad_{case}__train" in text
    assert expected[-1] in text
    assert "T000/B000/XXXX" not in text and "T000/B000/XXXX" not in email.body
    if task == "check_data":
        report = json.loads(
            Path(
                load_settings().artifact_root, record_key(summary.dag_id, summary.run_id, "data_checks.json")
            ).read_text()
        )
        assert report["summary"]["success"] is False


def test_demo_command_runs_twice(demo_dir: Path) -> None:
    """`mlcycle run churn` (the command behind `make demo`) twice: the second compares against the first."""
    first = run_training("churn", logical_date=LOGICAL_DATE)
    second = run_training("churn", logical_date=LOGICAL_DATE)
    assert first.state == second.state == "success"
    assert second.records["evaluation"]["champion"]["version"] == first.records["promotion"]["version"]
    assert "on the same holdout" in second.render()


def test_skip_promotion_param_sets_challenger_only(first_run, write_pipeline: Callable[..., str]) -> None:
    champion = _champion()
    # one more boosting round: a new config (a re-run of the champion's own inputs is never promoted)
    params = {**yaml.safe_load(DEMO_YAML.read_text())["model"]["params"], "max_iter": 151}
    name = write_pipeline("e2e_dry_run", {"registry": {"model_name": MODEL}, "model": {"params": params}})
    s = run_training(name, logical_date=LOGICAL_DATE, conf={"skip_promotion": True})
    assert s.state == "success", s.render()
    promo = s.records["promotion"]
    assert s.records["decision"]["verdict"] == "passed"
    assert promo["promoted"] is False and "skip_promotion" in promo["why"]
    assert _champion() == champion
    challenger = _registry().get_model_version_by_alias(MODEL, "challenger")
    assert str(challenger.version) == promo["version"]


def test_force_promote_param_promotes_a_rejected_model_and_says_so(
    first_run, write_pipeline: Callable[..., str]
) -> None:
    name = write_pipeline(
        "e2e_forced",
        {
            "registry": {"model_name": MODEL},
            "model": {"estimator": "DummyClassifier", "params": {"strategy": "prior"}},
        },
    )
    s = run_training(name, logical_date=LOGICAL_DATE, conf={"force_promote": True})
    assert s.state == "success", s.render()
    decision = s.records["decision"]
    assert decision["forced"] is True and decision["promote"] is True
    assert any("misses threshold" in r for r in decision["reasons"])
    version = s.records["promotion"]["version"]
    assert _champion() == version
    tags = _registry().get_model_version(MODEL, version).tags
    assert tags["mlcycle.forced"] == "true"
