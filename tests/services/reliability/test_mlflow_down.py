"""Issue 6, scenario 12: the MLflow server stops while the train task is logging to it.

A real ``mlflow server`` (SQLite backend, proxied artifacts) holds a champion from a first run. A
second run starts; the moment its MLflow run shows up as RUNNING the server is stopped. The run
must fail in train, naming the tracking server; no model version appears and the champion stays.
The server comes back (same backend store, a new port); a third run registers exactly one version.

The MLflow client's HTTP retries are bounded here (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``/
``..._BACKOFF_FACTOR``): its defaults (7 retries, factor 2) wait about 4 minutes per failing call
before the task fails. That budget is a deployment choice; the invariants do not depend on it.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from mlcycle.airflow.devrun import run_training
from tests.integration.reliability.conftest import notifying
from tests.support.fixtures import MlflowServer, MlflowStarter

LOGICAL_DATE = "2026-01-01T00:00:00+00:00"
MODEL = "mlflow_down_churn"


def _client(server: MlflowServer) -> MlflowClient:
    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def _stop_when_training_starts(server: MlflowServer, experiment: str, known: set[str]) -> threading.Thread:
    """Stop ``server`` as soon as a new RUNNING run appears in ``experiment``."""
    client = _client(server)

    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                exp = client.get_experiment_by_name(experiment)
                runs = client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'") if exp else []
            except Exception:  # the server is busy with the run's own calls: try again
                runs = []
            if any(r.info.run_id not in known for r in runs):
                server.stop(grace=2)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=watch, name="stop-mlflow", daemon=True)
    thread.start()
    return thread


def test_mlflow_down_during_training_creates_no_version_and_recovers(
    mlflow_server: MlflowStarter,
    tmp_path: Path,
    demo_dir: Path,
    write_pipeline: Callable[..., str],
    notify_env: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp, slack = notify_env
    backend, artifacts = f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "mlflow-artifacts")
    server = mlflow_server(backend, artifacts)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    name = write_pipeline("mlflow_down", notifying(MODEL, retries=0))

    first = run_training(name, logical_date=LOGICAL_DATE)
    assert first.state == "success", first.render()
    assert _client(server).get_model_version_by_alias(MODEL, "champion").version == "1"
    experiment = _client(server).get_experiment_by_name(f"mlcycle/{name}")
    known = {r.info.run_id for r in _client(server).search_runs([experiment.experiment_id])}

    watcher = _stop_when_training_starts(server, f"mlcycle/{name}", known)
    killed = run_training(name, logical_date=LOGICAL_DATE)
    watcher.join(timeout=30)
    assert not server.alive(), "the server was never stopped: the watcher missed the training run"

    assert killed.state == "failed", killed.render()
    assert killed.task_states["train"] == "failed", killed.task_states
    for task in ("evaluate", "validate_model", "register_and_promote"):
        assert killed.task_states[task] == "upstream_failed", killed.task_states
    [email] = smtp.wait_for(1)
    [post] = slack.wait_for(1)
    time.sleep(1)
    assert len(smtp.messages) == 1 and len(slack.requests) == 1
    body = html.unescape(email.body)
    assert "task train" in email.subject, email.subject
    assert f"127.0.0.1:{server.port}" in body, f"the error must name the tracking server:\n{body}"
    assert f"127.0.0.1:{server.port}" in post.json["text"]

    again = mlflow_server(backend, artifacts)  # same store, new port
    monkeypatch.setenv("MLFLOW_TRACKING_URI", again.url)
    client = _client(again)
    assert [v.version for v in client.search_model_versions(f"name = '{MODEL}'")] == ["1"]
    assert client.get_model_version_by_alias(MODEL, "champion").version == "1"

    third = run_training(name, logical_date=LOGICAL_DATE)
    assert third.state == "success", third.render()
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))
    assert versions == [1, 2], versions
    assert third.records["promotion"]["version"] == "2"
    assert client.get_model_version(MODEL, "2").tags["airflow.run_id"] == third.run_id
