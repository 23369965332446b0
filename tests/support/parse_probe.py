"""Import the DAG folder the way the dag-processor does and report what parsing cost.

Run as a script in a fresh interpreter: prints JSON with the DAG ids, task order, the heavy
modules imported, the number of metadata-DB queries and the connection lookups attempted.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

HEAVY = (
    "pandas",
    "sklearn",
    "mlflow",
    "great_expectations",
    "evidently",
    "boto3",
    "pyarrow",
    "matplotlib",
    "slack_sdk",
    "aiohttp",  # the Slack provider: built only when a notification is sent
    "openlineage",  # the OpenLineage client: imported when a task runs (docs/lineage.md)
)
HEAVY_PACKAGES = ("airflow.providers.openlineage",)  # imported by the extractor, when a task runs


def _heavy(module: str) -> str | None:
    top = module.split(".")[0]
    if top in HEAVY:
        return top
    return next((p for p in HEAVY_PACKAGES if module == p or module.startswith(p + ".")), None)


def main(dag_file: str) -> None:
    import os

    if os.environ.get("MLCYCLE_PROBE_PRELOAD") == "dag-processor":
        # The dag-processor forks its parsing processes from the manager, which has these loaded.
        import gc

        import airflow.dag_processing.manager
        import airflow.dag_processing.processor  # noqa: F401

        gc.freeze()  # as DagFileProcessorManager.before_run does before forking (its objects are not rescanned)
    from airflow.sdk import BaseHook
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    queries: list[str] = []
    event.listen(Engine, "before_cursor_execute", lambda *a: queries.append(str(a[2])[:80]))
    lookups: list[str] = []

    def refuse(cls: object, conn_id: str, *args: object, **kwargs: object) -> None:
        lookups.append(conn_id)
        raise RuntimeError(f"connection {conn_id!r} looked up at parse time")

    BaseHook.get_connection = classmethod(refuse)  # type: ignore[method-assign,assignment]
    loaded_before = set(sys.modules)
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location("mlcycle_dag_probe", dag_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    elapsed = time.perf_counter() - started

    from airflow.sdk import DAG

    dags = {name: obj for name, obj in vars(module).items() if isinstance(obj, DAG)}
    out = {
        "seconds": elapsed,
        "heavy": sorted({h for m in set(sys.modules) - loaded_before if (h := _heavy(m))}),
        "queries": queries,
        "lookups": lookups,
        "dags": {
            dag_id: {
                "tasks": [t.task_id for t in dag.topological_sort()],
                "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
                "retries": {t.task_id: t.retries for t in dag.tasks},
                "callbacks": {
                    t.task_id: [
                        getattr(c, "notifier_class", type(c).__name__) for c in (t.on_failure_callback or [])
                    ]
                    for t in dag.tasks
                },
                "params": sorted(dag.params.keys()),
                "timetable": type(dag.timetable).__name__,
                "max_active_runs": dag.max_active_runs,
                "doc_md": bool(dag.doc_md),
            }
            for dag_id, dag in dags.items()
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(
        sys.argv[1]
        if len(sys.argv) > 1
        else str(Path(__file__).resolve().parents[2] / "dags" / "mlcycle_pipelines.py")
    )
