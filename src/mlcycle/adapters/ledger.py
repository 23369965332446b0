"""The retrain guard's ledger, kept in the artifact store so it survives restarts and needs no database.

``monitor/<pipeline>/windows/<window>.json`` holds the latest verdict per window;
``monitor/<pipeline>/events/<time>-<kind>.json`` the append-only alerts and retrain requests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mlcycle.adapters.store import ArtifactStore
from mlcycle.core.names import monitor_events_prefix, window_status_key, window_statuses_prefix


class MonitorLedger:
    def __init__(self, store: ArtifactStore, pipeline: str) -> None:
        self.store = store
        self.pipeline = pipeline

    def record_verdict(self, window_key: str, verdict: dict[str, Any]) -> str:
        """Replace the window's verdict (a re-run window keeps its latest)."""
        data = json.dumps(verdict, indent=2, sort_keys=True).encode()
        return self.store.publish_bytes(data, window_status_key(self.pipeline, window_key))

    def verdict(self, window_key: str) -> dict[str, Any]:
        return dict(json.loads(self.store.read_bytes(window_status_key(self.pipeline, window_key))))

    def recent_verdicts(self, window_end: str, count: int) -> list[dict[str, Any]]:
        """The ``count`` latest window verdicts ending at or before ``window_end``, oldest first."""
        keys = self.store.list_keys(window_statuses_prefix(self.pipeline))
        records = [json.loads(self.store.read_bytes(k)) for k in keys if k.endswith(".json")]
        upto = sorted(
            (r for r in records if r["window_end"] <= window_end),
            key=lambda r: (r["window_end"], r["window_start"]),
        )
        return upto[-count:]

    def recent_statuses(self, window_end: str, count: int) -> tuple[str, ...]:
        """Statuses of the ``count`` latest windows ending at or before ``window_end``, oldest first."""
        return tuple(r["status"] for r in self.recent_verdicts(window_end, count))

    def last_event(self, kind: str) -> datetime | None:
        prefix = monitor_events_prefix(self.pipeline)
        keys = [k for k in self.store.list_keys(prefix) if k.endswith(f"-{kind}.json")]
        if not keys:
            return None
        return datetime.fromisoformat(json.loads(self.store.read_bytes(keys[-1]))["at"])

    def record_event(self, kind: str, payload: dict[str, Any], now: datetime) -> str:
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        body = {"kind": kind, "at": now.isoformat(), **payload}
        data = json.dumps(body, indent=2, sort_keys=True, default=str).encode()
        return self.store.publish_bytes(data, f"{monitor_events_prefix(self.pipeline)}/{stamp}-{kind}.json")
