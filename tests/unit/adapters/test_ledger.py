"""The retrain guard's ledger is keyed by window (data time), not by when a run happened to finish."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from mlcycle.adapters.ledger import MonitorLedger
from mlcycle.adapters.store import LocalArtifactStore
from mlcycle.core.names import monitor_events_prefix

JAN, FEB, MAR, APR = (datetime(2026, m, 1, tzinfo=UTC).isoformat() for m in (2, 3, 4, 5))  # window ends


def _ledger(tmp_path: Path) -> MonitorLedger:
    return MonitorLedger(LocalArtifactStore(str(tmp_path)), "churn")


def test_events_found_by_window_end_whatever_order_they_arrived(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    wall = datetime(2026, 12, 5, tzinfo=UTC)
    # March's window decided first on the wall clock, then January's
    ledger.record_event("retrain", {"window_key": "mar"}, MAR, wall)
    ledger.record_event("retrain", {"window_key": "jan"}, JAN, wall.replace(hour=1))
    assert ledger.last_event("retrain", FEB) == datetime.fromisoformat(JAN)
    assert ledger.last_event("retrain", APR) == datetime.fromisoformat(MAR)
    # a window never sees its own event (a re-run decides as the first run did), nor later ones
    assert ledger.last_event("retrain", JAN) is None
    assert ledger.last_event("retrain", MAR) == datetime.fromisoformat(JAN)
    assert ledger.last_event("alert", APR) is None


def test_events_written_before_keying_by_window_count_by_their_time(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    old = {"kind": "alert", "at": "2026-02-15T10:00:00+00:00", "window_key": "x"}
    ledger.store.publish_bytes(
        json.dumps(old).encode(), f"{monitor_events_prefix('churn')}/20260215T100000.000000Z-alert.json"
    )
    assert ledger.last_event("alert", FEB) == datetime(2026, 2, 15, 10, tzinfo=UTC)
    assert ledger.last_event("alert", JAN) is None


def test_recent_statuses_in_window_order_whatever_order_recorded(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    starts = {JAN: "2026-01-01T00:00:00+00:00", FEB: JAN, MAR: FEB}
    for key, end, status in (("mar", MAR, "drift"), ("jan", JAN, "drift"), ("feb", FEB, "no_drift")):
        ledger.record_verdict(key, {"window_start": starts[end], "window_end": end, "status": status})
    assert ledger.recent_statuses(MAR, 3) == ("drift", "no_drift", "drift")
    assert ledger.recent_statuses(FEB, 3) == ("drift", "no_drift")
