"""MLCYCLE_THREADS caps the OpenMP/BLAS threads of training and evaluation."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404  # runs this interpreter on a fixed probe
import sys

import pytest
from threadpoolctl import threadpool_info

from mlcycle.errors import ConfigError
from mlcycle.steps.threads import compute_threads, configured_threads


def _openmp_threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"}


def test_unset_leaves_the_libraries_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime)

    monkeypatch.delenv("MLCYCLE_THREADS", raising=False)
    before = _openmp_threads()
    assert configured_threads() is None
    with compute_threads():
        assert _openmp_threads() == before


def test_setting_caps_openmp_inside_the_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import sklearn.ensemble  # noqa: F401

    monkeypatch.setenv("MLCYCLE_THREADS", "1")
    before = _openmp_threads()
    with compute_threads():
        assert _openmp_threads() == {1}
    assert _openmp_threads() == before


@pytest.mark.parametrize("raw", ["0", "two", "-1", "1.5"])
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("MLCYCLE_THREADS", raw)
    with pytest.raises(
        ConfigError, match=r"environment variable MLCYCLE_THREADS: must be a whole number >= 1"
    ):
        configured_threads()


def test_caps_the_libraries_first_loaded_inside_the_block() -> None:
    """The tasks import scikit-learn inside the block; its OpenMP and BLAS pools are capped too.

    A fresh interpreter, so no pool is loaded before the block starts (this test process has them)."""
    probe = (
        "import json, sys\n"
        "from mlcycle.steps.threads import compute_threads\n"
        "assert 'sklearn' not in sys.modules and 'numpy' not in sys.modules\n"
        "with compute_threads():\n"
        "    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: F401\n"
        "    from threadpoolctl import threadpool_info\n"
        "    inside = [(p['user_api'], p['num_threads']) for p in threadpool_info()]\n"
        "print(json.dumps(inside))\n"
    )
    unset = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}  # the cap must come from MLCYCLE_THREADS alone
    env = {**{k: v for k, v in os.environ.items() if k not in unset}, "MLCYCLE_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    inside = json.loads(out.stdout.strip().splitlines()[-1])
    assert {api for api, _ in inside} >= {"openmp", "blas"}
    assert {n for _, n in inside} == {1}
