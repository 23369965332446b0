"""The retrain guard's ledger, kept in the artifact store so it survives restarts and needs no database.

``monitor/<pipeline>/windows/<window>.json`` holds the latest verdict per window;
``monitor/<pipeline>/events/<window end>-<kind>-<time>.json`` the append-only alerts and retrain
requests. Both are keyed by the window (data time), not by when a run happened to finish, so a
backfill or a replay finds the history the schedule would have left.
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
        return [r for r in self.verdicts() if r["window_end"] <= window_end][-count:]

    def recent_statuses(self, window_end: str, count: int) -> tuple[str, ...]:
        """Statuses of the ``count`` latest windows ending at or before ``window_end``, oldest first."""
        return tuple(r["status"] for r in self.recent_verdicts(window_end, count))

    def verdicts(self) -> list[dict[str, Any]]:
        """Every window's latest verdict, by window end (each names what served it: ``served_by``)."""
        keys = self.store.list_keys(window_statuses_prefix(self.pipeline))
        records = [json.loads(self.store.read_bytes(k)) for k in keys if k.endswith(".json")]
        return sorted(records, key=lambda r: (r["window_end"], r["window_start"]))

    def last_event(self, kind: str, before_window_end: str) -> datetime | None:
        """The window end of the latest ``kind`` event for a window ending strictly before ``before_window_end``.

        A re-run of a window never sees its own earlier alert or retrain; a later window's event (a
        replay of the past after the present) does not count either.
        """
        prefix = monitor_events_prefix(self.pipeline)
        before = datetime.fromisoformat(before_window_end)
        ends: list[datetime] = []
        for key in self.store.list_keys(prefix):
            if not key.endswith(".json") or f"-{kind}" not in key.rsplit("/", 1)[-1]:
                continue
            body = json.loads(self.store.read_bytes(key))
            if body.get("kind") != kind:
                continue
            # events written before the ledger was keyed by window carry only their wall-clock time
            end = datetime.fromisoformat(str(body.get("window_end") or body["at"]))
            if end < before:
                ends.append(end)
        return max(ends, default=None)

    def record_event(self, kind: str, payload: dict[str, Any], window_end: str, now: datetime) -> str:
        """Append an event of the window ending ``window_end`` (``now``: when it happened, for people)."""
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        end = datetime.fromisoformat(window_end).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        body = {"kind": kind, "at": now.isoformat(), "window_end": window_end, **payload}
        data = json.dumps(body, indent=2, sort_keys=True, default=str).encode()
        return self.store.publish_bytes(
            data, f"{monitor_events_prefix(self.pipeline)}/{end}-{kind}-{stamp}.json"
        )
