"""The benchmark's generated pipeline stays runnable as the demo YAML it copies gains keys."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlcycle.config.loader import parse_pipeline
from mlcycle.core.features import snapshot_columns

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))

import orchestration_bench  # noqa: E402


def test_orchestration_pipeline_reads_only_columns_the_generated_data_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(tmp_path))  # the benchmark's data root is its workdir
    data = tmp_path / "data.parquet"
    orchestration_bench.write_data(data, 200, 14, 6)
    text = orchestration_bench.pipeline_yaml(data, "bench_model", 14, 6)
    pipe = parse_pipeline(text, str(tmp_path / "bench.yaml"))
    missing = set(snapshot_columns(pipe)) - set(pq.read_schema(data).names)
    assert not missing, f"the benchmark pipeline names columns its data lacks: {sorted(missing)}"
