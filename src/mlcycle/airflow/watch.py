"""Task progress of an in-process ``dag.test()`` run, from Airflow's task-instance listener hooks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from airflow.sdk._shared.listeners import hookimpl
from airflow.sdk.listener import get_listener_manager

from mlcycle.core.summaries import error_head


@dataclass(frozen=True)
class TaskEvent:
    """A task started (``running``) or ended (``success``, ``failed``, ``skipped``) after ``seconds``."""

    task_id: str
    state: str
    seconds: float
    error: str | None = None


class TaskWatcher:
    """Listener: reports each task's start and end to ``on_event`` and keeps the errors by task id."""

    def __init__(self, on_event: Callable[[TaskEvent], None] | None = None) -> None:
        self.on_event = on_event
        self.started: dict[str, float] = {}
        self.errors: dict[str, str] = {}

    def _emit(self, task_instance: Any, state: str, error: Any = None) -> None:
        task_id = str(task_instance.task_id)
        if state == "running":
            self.started[task_id] = time.monotonic()
        seconds = time.monotonic() - self.started.get(task_id, time.monotonic())
        text = error_head(error) if error is not None else None
        if state == "failed":
            self.errors[task_id] = text or "failed (no error text: see the log)"
        if self.on_event is not None:
            self.on_event(TaskEvent(task_id, state, seconds, text))

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        self._emit(task_instance, "running")

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self._emit(task_instance, "success")

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        self._emit(task_instance, "failed", error)

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        self._emit(task_instance, "skipped")


@contextmanager
def watching(on_event: Callable[[TaskEvent], None] | None = None) -> Iterator[TaskWatcher]:
    """Register a :class:`TaskWatcher` for the ``dag.test()`` runs inside the block."""
    watcher = TaskWatcher(on_event)
    manager = get_listener_manager()
    manager.add_listener(watcher)
    try:
        yield watcher
    finally:
        manager.pm.unregister(watcher)
