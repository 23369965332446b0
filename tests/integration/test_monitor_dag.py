"""The monitoring DAG end to end with dag.test(): stable and drifted windows, alerts, the retrain guard."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from mlcycle.airflow.devrun import _take_queued_runs, run_monitoring, run_training
from mlcycle.config.settings import load_settings
from mlcycle.core.names import record_key
from mlcycle.core.summaries import WindowSummary

MODEL = "mon_churn"
TRAIN_DATE = "2025-10-01T00:00:00+00:00"  # trains on 2025-01..09; the generator drifts from 2026-01
STABLE_END = datetime(2025, 11, 1, tzinfo=UTC)  # window 2025-10
# given newest first: the monitor decides them in window order whatever order they are asked for
DRIFTED_ENDS = [datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)]  # 2026-05, 2026-04
THIRD_DRIFTED_END = datetime(2026, 7, 1, tzinfo=UTC)  # 2026-06, features only (its labels land later)
COOLDOWN_HOURS = 2000  # 83 days of data time: holds from the 2026-04 window past the 2026-06 one


def _registry() -> MlflowClient:
    uri = load_settings().tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _champion() -> str:
    return str(_registry().get_model_version_by_alias(MODEL, "champion").version)


def _artifact(summary: WindowSummary, name: str) -> Path:
    return Path(load_settings().artifact_root, record_key(summary.dag_id, summary.run_id, name))


@pytest.fixture(scope="module")
def monitored(demo_dir: Path, write_pipeline: Callable[..., str]) -> str:
    name = write_pipeline(
        "mon",
        {
            "registry": {"model_name": MODEL},
            "model": {"split": {"strategy": "time", "test_size": 0.2}},
            "notifications": {
                "events": ["failure", "drift"],
                "slack_conn_id": "slack_default",
                "smtp_conn_id": "smtp_default",
                "email": ["oncall@example.com"],
            },
            "monitoring": {
                "schedule": "@monthly",
                "min_rows": 300,
                # drift too: the newest month (2026-06) ships without labels, so only its drift (and the
                # estimate) speak for it, and the guard's cooldown is checked on it
                "alert_on": ["drift", "at_risk", "degraded"],
                "retrain": {
                    "on": ["drift", "at_risk", "degraded"],
                    "enabled": True,
                    "min_drifted_windows": 1,
                    "of_last_windows": 1,
                    "cooldown_hours": COOLDOWN_HOURS,
                },
            },
        },
    )
    trained = run_training(name, logical_date=TRAIN_DATE)
    assert trained.succeeded, trained.render()
    return name


def test_stable_window_scores_reports_and_does_nothing(monitored: str, notify_env) -> None:
    smtp, slack = notify_env
    [w] = run_monitoring(monitored, [STABLE_END])
    assert w.state == "success", w.task_states
    assert w.task_states["trigger_retrain"] == "skipped"
    window, score, drift = w.records["window"], w.records["score"], w.records["drift"]
    assert window["window_start"] == "2025-10-01T00:00:00+00:00"
    assert window["window_end"] == "2025-11-01T00:00:00+00:00"
    assert 500 < window["rows"] < 900 and window["has_labels"] is True

    # every prediction has an id, the model version and the run; inputs and outputs are kept
    preds = pd.read_parquet(score["predictions_uri"])
    assert len(preds) == window["rows"]
    assert preds["prediction_id"].is_unique
    assert set(preds["model_version"]) == {_champion()} and set(preds["run_id"]) == {w.run_id}
    assert {"customer_id", "event_time", "tenure_months", "plan", "prediction", "probability"} <= set(preds)
    assert preds["probability"].between(0, 1).all()

    assert drift["dataset"]["drifted"] is False, drift["dataset"]
    assert drift["domain_classifier"]["auc"] < 0.6
    assert drift["reference"]["origin"] == "stored with the model"
    decision = w.records["decision"]
    assert decision["status"] == "ok", decision
    # labels decide; the label-free estimate is recorded beside them and agrees on a stable window
    assert abs(decision["estimated"] - decision["realized"]) < 0.03, decision
    assert drift["estimated_quality"]["method"] == "CBPE" and drift["domain_classifier"]["baseline"]
    assert drift["domain_classifier"]["threshold_basis"].startswith("no-drift baseline")
    report = _artifact(w, "window_report.html").read_text()
    assert ">ok</span>" in report and 'href="drift_report.html"' in report
    html = Path(drift["report"]["html_uri"])
    assert html.is_file() and html.stat().st_size > 100_000
    assert json.loads(_artifact(w, "drift_report.json").read_text())["metrics"]
    assert w.records["action"]["alert"] is False and w.records["action"]["retrain"] is False
    assert score["quality"]["rows"] == window["rows"] and score["quality"]["metrics"]["roc_auc"] > 0.6

    # the monitoring run is in MLflow with its metrics and the report
    run = _registry().get_run(drift["mlflow_run_id"])
    assert run.data.tags["mlcycle.window"] == window["window_key"]
    assert "domain_auc" in run.data.metrics and "drift_share" in run.data.metrics
    assert "estimated_roc_auc" in run.data.metrics
    assert (run.data.tags["mlcycle.verdict"], run.data.tags["mlcycle.verdict_signals"]) == ("ok", "none")
    assert {a.path for a in _registry().list_artifacts(run.info.run_id, "drift")} >= {
        "drift/drift_report.html",
        "drift/drift_report.json",
        "drift/drift.json",
    }
    assert smtp.messages == [] and slack.requests == []


def test_drift_alerts_once_and_retrains_once(monitored: str, notify_env) -> None:
    smtp, slack = notify_env
    champion = _champion()
    first, second = run_monitoring(monitored, DRIFTED_ENDS, execute_retrains=False)

    # first drifted window (the earlier one): drift with reasons, an alert on both channels, a retrain
    assert first.records["window"]["window_end"] == "2026-05-01T00:00:00+00:00"
    assert first.state == "success", first.task_states
    decision = first.records["decision"]
    assert decision["status"] == "degraded", decision
    assert decision["signals"][0]["name"] == "realized_quality" and decision["signals"][0]["fired"]
    assert decision["reasons"][0].startswith("roc_auc on ")
    drifted = set(first.records["drift"]["dataset"]["drifted_columns"])
    assert {"monthly_charges", "support_calls"} <= drifted, drifted
    assert first.records["drift"]["domain_classifier"]["auc"] > 0.7
    assert first.records["action"]["alert"] is True and first.records["action"]["retrain"] is True
    assert first.task_states["trigger_retrain"] == "success"
    [email] = smtp.wait_for(1)
    assert "model quality degraded" in email.subject and email.envelope_to == ["oncall@example.com"]
    [post] = slack.wait_for(1)
    assert "model quality degraded" in post.json["text"] and "window_report.html" in post.json["text"]
    assert "T000/B000/XXXX" not in post.json["text"]

    # second drifted window right after: the guard holds (alert cooldown, retrain queued, cooldown)
    assert second.records["decision"]["status"] == "degraded"
    action = second.records["action"]
    assert action["alert"] is False and action["retrain"] is False
    assert any("cooldown" in r for r in action["reasons"] if r.startswith("alert"))
    assert any("already queued or running" in r for r in action["reasons"]), action["reasons"]
    assert second.task_states["trigger_retrain"] == "skipped"
    assert len(smtp.messages) == 1 and len(slack.requests) == 1

    # exactly one retrain request, for the first window's end
    [request] = _take_queued_runs(f"{monitored}__train")
    assert request["run_id"] == f"drift_retrain__{first.run_id}"
    assert request["conf"]["data_end"] == "2026-05-01T00:00:00+00:00"

    # a third drifted window once the request left the queue (as when the scheduler has run it): no
    # run is queued any more, so the cooldown alone holds both the retrain and the alert (issue 6, #17),
    # measured in data time: 61 days after the retrain's window, within the 83-day cooldown (issue 16)
    [third] = run_monitoring(monitored, [THIRD_DRIFTED_END], execute_retrains=False)
    decision = third.records["decision"]
    assert third.records["window"]["has_labels"] is False  # scored anyway, recorded as unlabelled
    assert (decision["labelled_rows"], decision["realized"]) == (0, None), decision
    assert decision["estimated"] is not None and decision["status"] == "drift", decision
    action = third.records["action"]
    assert action["alert"] is False and action["retrain"] is False, action["reasons"]
    retrain_blockers = [r for r in action["reasons"] if r.startswith("retrain: not triggered")]
    assert retrain_blockers and all("cooldown" in r for r in retrain_blockers), action["reasons"]
    assert action["note"] == "cooldown until 2026-07-23", action
    assert third.task_states["trigger_retrain"] == "skipped"
    assert _take_queued_runs(f"{monitored}__train") == []
    assert len(smtp.messages) == 1 and len(slack.requests) == 1  # one alert across three drifted windows

    # the one retrain trains a new version
    retrain = run_training(monitored, logical_date=request["conf"]["data_end"], conf=request["conf"])
    assert retrain.succeeded, retrain.render()
    assert retrain.records["ingest"]["window_end"] == "2026-05-01T00:00:00+00:00"
    assert int(retrain.records["promotion"]["version"]) > int(champion)
    assert _take_queued_runs(f"{monitored}__train") == []


def test_empty_window_skips_or_fails_as_configured(
    monitored: str, write_pipeline: Callable[..., str], notify_env
) -> None:
    smtp, _ = notify_env
    before = len(smtp.messages)
    no_data = datetime(2027, 3, 1, tzinfo=UTC)
    [skipped] = run_monitoring(monitored, [no_data])
    assert skipped.state == "success"
    assert skipped.task_states["load_window"] == "skipped"
    assert {skipped.task_states[t] for t in ("score", "detect_drift", "decide", "act")} == {"skipped"}
    assert skipped.records["window"]["status"] == "empty" and skipped.records["window"]["rows"] == 0

    failing = write_pipeline(
        "mon_strict",
        {
            "registry": {"model_name": MODEL},
            "notifications": {"events": ["failure"], "email": ["oncall@example.com"]},
            "monitoring": {"schedule": "@monthly", "on_empty": "fail"},
        },
    )
    [failed] = run_monitoring(failing, [no_data])
    assert failed.state == "failed" and failed.task_states["load_window"] == "failed"
    emails = smtp.wait_for(before + 1)
    assert "mon_strict__monitor" in emails[-1].subject and "load_window" in emails[-1].subject
    assert "monitoring.min_rows" in emails[-1].body
