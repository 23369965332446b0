"""Shared unit-tier fixtures: the demo pipeline, a small demo frame and a YAML-to-Pipeline factory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
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
