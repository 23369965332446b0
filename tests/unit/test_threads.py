"""MLCYCLE_THREADS caps the OpenMP/BLAS threads of training and evaluation."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

from mlcycle.errors import ConfigError
from mlcycle.threads import compute_threads, configured_threads


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
    with pytest.raises(ConfigError, match=r"environment variable MLCYCLE_THREADS: must be a whole number >= 1"):
        configured_threads()
