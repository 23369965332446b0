"""Fixtures for whole-DAG runs on embedded defaults (SQLite Airflow, SQLite MLflow, local artifacts)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mlcycle.adapters.tracking import Tracking
from mlcycle.cli.demo import write_demo_data
from mlcycle.config.loader import parse_pipeline
from mlcycle.core.records import Snapshot
from tests.unit.conftest import churn_frame, demo_pipeline, make_pipeline

# the unit tier's fixtures, for the modules that train real models on them (adapters/, core/, ops/,
# steps/: out of tests/unit to keep `make test-unit` under a minute; docs/testing.md)
__all__ = ["churn_frame", "demo_pipeline", "make_pipeline"]

ROOT = Path(__file__).resolve().parents[2]
DEMO_YAML = ROOT / "config" / "pipelines" / "churn.yaml"
LOGICAL_DATE = "2026-01-01T00:00:00+00:00"
# a monitor that only scores: monthly windows, no domain classifier, no retrain (tests about serving)
SCORING_MONITOR = {
    "schedule": "@monthly",
    "min_rows": 300,
    "drift": {"domain_classifier": False},
    "retrain": {"enabled": False},
}


@pytest.fixture(autouse=True, scope="module")
def _mlflow_tracking_uri_handed_back() -> Iterator[None]:
    """Each module leaves ``MLFLOW_TRACKING_URI`` as it found it (unset: tests/conftest.py).

    ``mlflow.set_tracking_uri``, which ``Tracking`` calls, also sets that variable, and the settings
    read it: after the modules on ``mlflow_store`` (adapters/, ops/, steps/) every later DAG run of
    the session would track there instead of in ``MLCYCLE_HOME``.
    """
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if os.environ.get("MLFLOW_TRACKING_URI") == before:
        return
    if "mlflow" in sys.modules:
        import mlflow

        mlflow.set_tracking_uri(before)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@dataclass(frozen=True)
class MlflowStore:
    tracking_uri: str
    artifact_root: str

    def tracking(self) -> Tracking:
        return Tracking(self.tracking_uri, self.artifact_root)


def snapshot_record(uri: str, sha256: str, rows: int, window_start: str | None = None) -> Snapshot:
    """A Snapshot record for training a model straight from a frame (no ingest ran)."""
    return Snapshot(
        uri=uri,
        key=f"snapshots/churn/{sha256}.parquet",
        sha256=sha256,
        rows=rows,
        columns={},
        window_start=window_start,
        window_end="2026-01-01T00:00:00+00:00",
        source="data/churn.csv",
        source_files=1,
    )


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowStore]:
    """One real SQLite tracking store for the modules that train on it (creating its tables costs seconds)."""
    import mlflow

    tmp = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    yield MlflowStore(f"sqlite:///{tmp}/mlflow.db", str(tmp / "mlruns"))
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def notify_env(smtp_server, slack_receiver, monkeypatch: pytest.MonkeyPatch):
    """The loopback SMTP server and Slack receiver as Airflow's smtp_default and slack_default."""
    for key, value in {**smtp_server.airflow_conn_env(), **slack_receiver.airflow_conn_env()}.items():
        monkeypatch.setenv(key, value)
    return smtp_server, slack_receiver


@pytest.fixture(scope="session")
def data_root() -> Path:
    return Path(os.environ["MLCYCLE_DATA_ROOT"])


@pytest.fixture(scope="session")
def demo_dir(data_root: Path) -> Path:
    """A smaller copy of the demo data set (same generator, 12k rows)."""
    out = data_root / "data" / "demo" / "churn"
    write_demo_data(out, rows=12_000, seed=7)
    return out


def _merge(base: dict, edits: dict) -> dict:
    """Deep-merge ``edits`` into ``base``; estimator ``params`` are replaced, not merged."""
    out = dict(base)
    for key, value in edits.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "params":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="session")
def write_pipeline() -> Callable[..., str]:
    """Write ``<name>.yaml`` into the test pipeline directory: the demo YAML with ``edits`` merged in."""

    def write(name: str, edits: dict) -> str:
        base = yaml.safe_load(DEMO_YAML.read_text())
        cfg = _merge(base, {"retries": 0, **edits})
        path = Path(os.environ["MLCYCLE_CONFIG_DIR"]) / f"{name}.yaml"
        text = yaml.safe_dump(cfg, sort_keys=False)
        # validated before it lands: one invalid YAML in the shared directory fails every later DAG parse
        parse_pipeline(text, str(path))
        path.write_text(text)
        return name

    return write
