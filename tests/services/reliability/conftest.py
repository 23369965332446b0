"""Fault scenarios 9, 12 and 13 share the reliability suite's notification wiring and private
PostgreSQL cluster with tests/integration/reliability/ (defined in its conftest.py)."""

from __future__ import annotations

from tests.integration.reliability.conftest import notify_env, private_postgres, task_logs

__all__ = ["notify_env", "private_postgres", "task_logs"]
