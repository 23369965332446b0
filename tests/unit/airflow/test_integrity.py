"""DAG integrity: every pipeline YAML yields its DAG, wired in order, cheap and side-effect free to parse."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROBE = ROOT / "tests" / "support" / "parse_probe.py"
STEPS = ["ingest", "check_data", "train", "evaluate", "validate_model", "register_and_promote"]
MONITOR_STEPS = ["load_window", "score", "detect_drift", "decide", "act", "trigger_retrain"]


def _probe(config_dir: Path) -> dict:
    env = {**os.environ, "MLCYCLE_CONFIG_DIR": str(config_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(PROBE), str(ROOT / "dags" / "mlcycle_pipelines.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("pipelines")
    for f in (ROOT / "config" / "pipelines").glob("*.yaml"):
        shutil.copy(f, d / f.name)
    text = (ROOT / "config" / "pipelines" / "churn.yaml").read_text()
    regression = yaml.safe_load(
        text.replace("task: binary_classification", "task: regression")
        .replace("estimator: HistGradientBoostingClassifier", "estimator: Ridge")
        .replace("params: {learning_rate: 0.1, max_iter: 150, max_depth: 6}", "params: {alpha: 1.0}")
        .replace("primary_metric: roc_auc", "primary_metric: rmse")
        .replace("thresholds: {roc_auc: 0.70, f1: 0.30}", "thresholds: {rmse: 10.0}")
        .replace("slack_conn_id: slack_default", "slack_conn_id: null")
    )
    del regression["evaluation"]["fairness"]  # binary classification only
    (d / "churn_regression.yaml").write_text(yaml.safe_dump(regression))
    # no timestamp column: rows cannot be cut into windows, so this pipeline gets no monitor
    untimed = yaml.safe_load(text)
    del untimed["data"]["timestamp_column"], untimed["data"]["window"]
    untimed["model"]["split"]["strategy"] = "random"
    untimed.pop("monitoring", None)
    (d / "untimed.yaml").write_text(yaml.safe_dump(untimed))
    return _probe(d)


def test_every_yaml_yields_its_dags(parsed: dict) -> None:
    assert set(parsed["dags"]) == {
        "churn__train",
        "churn__monitor",
        "churn_regression__train",
        "churn_regression__monitor",
        "untimed__train",
        *(
            f"{name}__{kind}"
            for name in ("churn", "churn_regression", "untimed")
            for kind in ("rollback", "approve")
        ),
    }


def test_rollback_and_approve_dags_are_manual_with_validated_params(parsed: dict) -> None:
    for kind, params in (("rollback", ["force", "reason", "version"]), ("approve", ["reason", "version"])):
        dag = parsed["dags"][f"churn__{kind}"]
        assert dag["tasks"] == [kind]
        assert dag["params"] == params
        assert dag["timetable"] == "NullTimetable"  # schedule=None: triggered by a person
        assert dag["doc_md"]
        assert dag["retries"] == {kind: 0}  # a refused move fails once, loudly


def test_monitor_tasks_run_in_order_on_data_intervals(parsed: dict) -> None:
    dag = parsed["dags"]["churn__monitor"]
    assert [t for t in dag["tasks"] if t != "join_labels"] == MONITOR_STEPS
    for before, after in itertools.pairwise(MONITOR_STEPS):
        assert before in dag["upstream"][after], f"{after} does not wait for {before}"
    # the demo YAML has data.labels: earlier windows' late labels are joined before the guard counts
    assert "join_labels" in dag["upstream"]["act"]
    # windows come from real data intervals (start < end), not trigger times
    assert dag["timetable"] == "CronDataIntervalTimetable"
    assert dag["max_active_runs"] == 1
    assert dag["params"] == ["allow_retrain"]
    assert dag["doc_md"]
    # a failed retrain request is not retried (it would double-trigger); the rest retry per YAML
    assert dag["retries"].pop("trigger_retrain") == 0
    assert set(dag["retries"].values()) == {1}
    for task_id, callbacks in dag["callbacks"].items():
        assert callbacks == ["GuardedSlackWebhookNotifier", "SmtpNotifier"], task_id


def test_tasks_run_in_pipeline_order(parsed: dict) -> None:
    dag = parsed["dags"]["churn__train"]
    assert dag["tasks"] == STEPS
    for before, after in itertools.pairwise(STEPS):
        assert before in dag["upstream"][after], f"{after} does not wait for {before}"


def test_retries_callbacks_and_params(parsed: dict) -> None:
    dag = parsed["dags"]["churn__train"]
    assert set(dag["retries"].values()) == {1}
    for task_id, callbacks in dag["callbacks"].items():
        assert callbacks == ["GuardedSlackWebhookNotifier", "SmtpNotifier"], task_id
    assert dag["params"] == ["data_end", "force_promote", "lookback_days", "skip_promotion"]
    assert dag["doc_md"]
    # no Slack connection configured: only the email notifier is attached
    assert set(map(tuple, parsed["dags"]["churn_regression__train"]["callbacks"].values())) == {
        ("SmtpNotifier",)
    }


def test_parse_imports_nothing_heavy_and_touches_no_connection_or_db(parsed: dict) -> None:
    assert parsed["heavy"] == []
    assert parsed["lookups"] == []
    assert parsed["queries"] == []


def test_invalid_yaml_fails_the_parse_naming_file_and_key(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config" / "pipelines" / "churn.yaml", tmp_path / "churn.yaml")
    (tmp_path / "broken.yaml").write_text(
        (ROOT / "config" / "pipelines" / "churn.yaml").read_text().replace("max_depth: 6", "max_depth: 0")
    )
    env = {**os.environ, "MLCYCLE_CONFIG_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(PROBE)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert proc.returncode != 0
    assert f"{tmp_path / 'broken.yaml'}: model.params.max_depth: must be >= 1" in proc.stderr


def test_worker_parse_builds_only_the_dags_of_the_task_being_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker names the DAG it parses for: only that pipeline's YAML is read and its DAGs built."""
    text = (ROOT / "config" / "pipelines" / "churn.yaml").read_text()
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.yaml").write_text(text)
    (tmp_path / "gamma.yaml").write_text(text.replace("max_depth: 6", "max_depth: 0"))  # invalid, not read
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "beta__monitor")
    assert set(_probe(tmp_path)["dags"]) == {
        "beta__train",
        "beta__monitor",
        "beta__rollback",
        "beta__approve",
    }
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "beta__rollback")  # the manual DAGs too
    assert set(_probe(tmp_path)["dags"]) == {
        "beta__train",
        "beta__monitor",
        "beta__rollback",
        "beta__approve",
    }
    # a DAG id no YAML matches: everything is loaded, and the invalid file still fails the parse
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "nope__train")
    env = {**os.environ, "MLCYCLE_CONFIG_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(PROBE)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert proc.returncode != 0
    assert "gamma.yaml: model.params.max_depth: must be >= 1" in proc.stderr
