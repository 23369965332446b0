"""How many threads the numeric libraries (OpenMP, BLAS) may use in a task: ``MLCYCLE_THREADS``.

scikit-learn's HistGradientBoosting spins one OpenMP thread per core. On a worker whose cores are
shared with other tasks that oversubscribes them, and the fit slows down many times over
(benchmarks/README.md). Unset, the libraries choose.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from mlcycle.errors import ConfigError

ENV_VAR = "MLCYCLE_THREADS"


def configured_threads() -> int | None:
    """``MLCYCLE_THREADS`` as a positive int, or None when unset or empty."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(
            f"environment variable {ENV_VAR}",
            [f"must be a whole number >= 1 (threads per task), got {raw!r}; or unset it"],
        )
    return int(raw)


@contextmanager
def compute_threads(limit: int | None = None) -> Iterator[None]:
    """Cap OpenMP and BLAS threads to ``limit`` (default: ``MLCYCLE_THREADS``) inside the block."""
    limit = limit if limit is not None else configured_threads()
    if limit is None:
        yield
        return
    # threadpoolctl caps only the libraries loaded when the block starts, and the tasks import
    # scikit-learn inside it: without this import the fit's OpenMP pool kept one thread per core.
    # Importing scikit-learn loads all three pools the tasks use: its OpenMP runtime and the
    # OpenBLAS of numpy and of scipy.
    import sklearn  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=limit):
        yield
