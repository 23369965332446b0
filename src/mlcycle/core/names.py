"""Names defined once: registry aliases, run-record keys and the store's layout."""

from __future__ import annotations


def run_key(run_id: str) -> str:
    """A storage-safe form of an Airflow run id."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in run_id)

def record_key(dag_id: str, run_id: str, name: str) -> str:
    """Where a DAG run's step records live in the artifact store: ``runs/<dag_id>/<run>/<name>``."""
    return f"runs/{run_key(dag_id)}/{run_key(run_id)}/{name}"


CHAMPION = "champion"
CHALLENGER = "challenger"
SHADOW_RUNNING = "in shadow"  # mlcycle.promotion tag of a challenger the monitor DAG scores
