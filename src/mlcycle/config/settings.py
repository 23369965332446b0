"""Where things live, read from the environment in exactly one place.

Embedded defaults: everything under ``$MLCYCLE_HOME`` (``<project>/.mlcycle``): artifacts on local
disk, MLflow tracking and registry in a local SQLite store. Point ``MLCYCLE_ARTIFACT_ROOT`` at
``s3://bucket/prefix`` and ``MLFLOW_TRACKING_URI`` at a server to go remote; credentials come from
the standard AWS/MLflow environment variables, never from pipeline YAML.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlcycle.config.loader import project_root

# third-party progress bars (tqdm in Evidently, GX and MLflow) write to stderr, which a task log
# records at ERROR level: off in every task and in the CLI (an explicit setting wins)
QUIET_ENV: dict[str, str] = {"TQDM_DISABLE": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
# the OS user of the `mlcycle` command running dag.test in this process: the run's actor and trigger
CLI_USER_ENV = "MLCYCLE_CLI_USER"


@dataclass(frozen=True)
class Settings:
    home: Path
    artifact_root: str
    tracking_uri: str
    mlflow_artifact_root: str
    # Where people open MLflow's UI (the extra links); None when the tracking URI is not a server.
    mlflow_ui_url: str | None = None

    @property
    def artifacts_on_s3(self) -> bool:
        return self.artifact_root.startswith("s3://")

    @property
    def lineage_events(self) -> Path:
        """Where the embedded OpenLineage file transport appends its events (docs/lineage.md)."""
        return self.home / "lineage" / "events.jsonl"


def load_settings() -> Settings:
    home = Path(os.environ.get("MLCYCLE_HOME") or project_root() / ".mlcycle").resolve()
    artifact_root = os.environ.get("MLCYCLE_ARTIFACT_ROOT") or str(home / "artifacts")
    tracking = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    mlflow_artifacts = os.environ.get("MLCYCLE_MLFLOW_ARTIFACT_ROOT") or (home / "mlruns").as_uri()
    ui = os.environ.get("MLCYCLE_MLFLOW_UI_URL") or (
        tracking if tracking.startswith(("http://", "https://")) else None
    )
    return Settings(
        home=home,
        artifact_root=artifact_root,
        tracking_uri=tracking,
        mlflow_artifact_root=mlflow_artifacts,
        mlflow_ui_url=ui,
    )
