"""Which windows a labels join looks at: those without realized quality, ended before the run's window."""

from __future__ import annotations

from datetime import UTC, datetime

from mlcycle.steps.monitor.labels import pending


def _v(end: str, realized: float | None, key: str | None = "predictions/x.parquet") -> dict:
    return {"window_end": end, "realized": realized, "predictions_key": key}


def test_pending_windows_lack_realized_quality_and_predictions_exist() -> None:
    verdicts = [
        _v("2026-04-01T00:00:00+00:00", 0.7),  # realized (labels came with the window, or joined once)
        _v("2026-05-01T00:00:00+00:00", None),
        _v("2026-06-01T00:00:00+00:00", None, key=None),  # recorded before predictions were kept
        _v("2026-07-01T00:00:00+00:00", None),
    ]
    assert [v["window_end"][:7] for v in pending(verdicts, None)] == ["2026-05", "2026-07"]


def test_a_monitor_run_leaves_its_own_window_to_its_decide_task() -> None:
    verdicts = [_v("2026-06-01T00:00:00+00:00", None), _v("2026-07-01T00:00:00+00:00", None)]
    as_of = datetime(2026, 7, 1, tzinfo=UTC)
    assert [v["window_end"][:7] for v in pending(verdicts, as_of)] == ["2026-06"]
