"""Queues and pools per task kind (the YAML's ``execution`` section), applied to the built DAGs.

``heavy`` tasks read a whole snapshot or window into memory and fit, check or score on it; ``light``
tasks read small records, decide and call the registry or trigger a run. On the CeleryExecutor a queue
sends a kind to the workers started with ``airflow celery worker -q <queue>``; a pool caps how many
run at once across all DAGs. Unset keys keep Airflow's defaults (``[operators] default_queue``,
``default_pool``).
"""

from __future__ import annotations

from typing import Any

from mlcycle.config.schema import ExecutionConfig
from mlcycle.core.names import HEAVY_TASKS


def place_tasks(dag: Any, execution: ExecutionConfig) -> None:
    for task in dag.tasks:
        target = execution.heavy if task.task_id in HEAVY_TASKS else execution.light
        if target.queue:
            task.queue = target.queue
        if target.pool:
            task.pool = target.pool
        task.pool_slots = target.pool_slots
