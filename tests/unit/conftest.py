"""Shared unit-tier fixtures: the demo pipeline, a small demo frame and a YAML-to-Pipeline factory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mlcycle.config.loader import Pipeline, load_pipeline, parse_pipeline

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DEMO_YAML = ROOT / "config" / "pipelines" / "churn.yaml"

PipelineFactory = Callable[..., Pipeline]


@pytest.fixture(scope="session")
def demo_pipeline() -> Pipeline:
    return load_pipeline(DEMO_YAML)


@pytest.fixture(scope="session")
def churn_frame() -> pd.DataFrame:
    """3000 demo rows; tests copy it before changing anything."""
    from mlcycle.cli.demo import generate_churn

    return generate_churn(3000, seed=7)


@pytest.fixture(scope="session")
def make_pipeline() -> PipelineFactory:
    """``make_pipeline(yaml_text, name="t")``: a validated Pipeline from (dedented) YAML text."""

    def make(text: str, name: str = "t") -> Pipeline:
        return parse_pipeline(textwrap.dedent(text), f"config/pipelines/{name}.yaml")

    return make


@dataclass(frozen=True)
class MlflowStore:
    tracking_uri: str
    artifact_root: str


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowStore]:
    """One real SQLite tracking store for the tier (creating its tables costs seconds)."""
    import mlflow

    tmp = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    yield MlflowStore(f"sqlite:///{tmp}/mlflow.db", str(tmp / "mlruns"))
    mlflow.set_tracking_uri(previous)
