"""Fixtures the service-backed tier shares with the others: the integration tier's whole-DAG
fixtures (the demo data set and the pipeline YAML writer) and the unit tier's YAML-to-Pipeline
factory. The services themselves come from tests/support/fixtures.py."""

from __future__ import annotations

from tests.integration.conftest import data_root, demo_dir, write_pipeline
from tests.unit.conftest import make_pipeline

__all__ = ["data_root", "demo_dir", "make_pipeline", "write_pipeline"]
