"""The logical-date convention, once for every run kind (docs/monitoring.md, "Which window a run covers").

Issue 16, measured 3: a manual monitor run's logical date X covers the month before X, a backfill
run's the month after X. Both are Airflow's timetable semantics; this pins them for the monitor DAG
as the scheduler sees it (serialized), so the docs' table cannot drift from what runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pendulum
import pytest

from mlcycle.config.loader import find_pipeline

JAN, FEB, MAR = (datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3))


@pytest.fixture(scope="module")
def monitor() -> object:
    from airflow.serialization.serialized_objects import DagSerialization

    from mlcycle.airflow.factory import build_monitor_dag

    dag = build_monitor_dag(find_pipeline("churn"))  # @monthly
    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def _window(interval: object) -> tuple[datetime, datetime]:
    return (interval.start, interval.end)  # type: ignore[attr-defined]


def test_scheduled_and_backfill_runs_name_the_window_by_its_start(monitor: object) -> None:
    """A backfill over [JAN, FEB] creates the runs the scheduler would: logical date = window start."""
    infos = list(monitor.iter_dagrun_infos_between(pendulum.instance(JAN), pendulum.instance(FEB)))  # type: ignore[attr-defined]
    assert [(i.logical_date, _window(i.data_interval)) for i in infos] == [
        (JAN, (JAN, FEB)),
        (FEB, (FEB, MAR)),
    ]
    assert [i.run_after for i in infos] == [FEB, MAR]  # each runs once its window is over


@pytest.mark.parametrize(
    "when",
    [
        pytest.param(FEB, id="manual-logical-date-on-a-boundary"),
        pytest.param(datetime(2026, 2, 17, 9, 30, tzinfo=UTC), id="run-after-of-a-run-without-logical-date"),
    ],
)
def test_manual_runs_name_the_window_by_its_end(monitor: object, when: datetime) -> None:
    """A manual run with logical date X, and a run with none (its run_after), cover the latest whole
    window ending at or before it: the same window as the backfill run for JAN."""
    interval = monitor.timetable.infer_manual_data_interval(run_after=pendulum.instance(when))  # type: ignore[attr-defined]
    assert _window(interval) == (JAN, FEB)
