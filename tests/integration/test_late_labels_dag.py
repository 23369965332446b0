"""Labels that land late, end to end with dag.test(): a landing zone whose newest months carry features
only trains, scores every month (realized quality where labels exist, estimated where not), and labels
landing later realize each window once, by the monitor's join_labels task or `mlcycle labels`; the
retrain guard counts a window by its final verdict."""

from __future__ import annotations

import html
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mlcycle.adapters.ledger import MonitorLedger
from mlcycle.adapters.wiring import open_store
from mlcycle.airflow.devrun import run_monitoring, run_training
from mlcycle.cli.demo import write_demo_data
from mlcycle.config.loader import find_pipeline
from mlcycle.config.settings import load_settings
from mlcycle.core.names import monitor_events_prefix
from mlcycle.ops.labels import render_labels, run_labels
from mlcycle.steps.monitor.labels import REALIZED

MODEL = "late_churn"
ENDS = [datetime(2026, m, 1, tzinfo=UTC) for m in range(2, 8)]  # the windows 2026-01 .. 2026-06
LATE = {"2026-04": "2026-05-20", "2026-05": "2026-06-20"}  # months whose labels land late, and when


@pytest.fixture(scope="module")
def landing(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Monthly files where 2026-04 .. 2026-06 have no `churned` column; their labels wait aside."""
    data = data_root / "data" / "late" / "churn"
    labels = data.parent / "churn_labels"
    shutil.rmtree(data.parent, ignore_errors=True)
    write_demo_data(data, rows=12_000, seed=7)  # 2026-06 ships unlabelled, its labels in churn_labels/
    aside = tmp_path_factory.mktemp("labels-not-landed")
    for path in labels.glob("*.parquet"):
        path.rename(aside / path.name)  # June's labels have not landed yet either
    # a July that comes with its labels: May's customers two months on (the concept change holds)
    may = pd.read_parquet(data / "churn_2026-05.parquet")
    july = may.assign(
        customer_id="J" + may["customer_id"], event_time=may["event_time"] + pd.DateOffset(months=2)
    )
    july.to_parquet(data / "churn_2026-07.parquet", index=False)
    for month, arrived in LATE.items():
        path = data / f"churn_{month}.parquet"
        frame = pd.read_parquet(path)
        late = frame[["customer_id", "churned"]].assign(labelled_at=pd.Timestamp(arrived, tz="UTC"))
        late.to_parquet(aside / f"churn_labels_{month}.parquet", index=False)
        frame.drop(columns=["churned"]).to_parquet(path, index=False)
    return {"data": data, "labels": labels, "aside": aside}


def _land(landing: dict[str, Path], *months: str) -> None:
    landing["labels"].mkdir(parents=True, exist_ok=True)
    for month in months:
        name = f"churn_labels_{month}.parquet"
        shutil.copy(landing["aside"] / name, landing["labels"] / name)


@pytest.fixture(scope="module")
def late(landing: dict[str, Path], write_pipeline: Callable[..., str]) -> str:
    return write_pipeline(
        "late",
        {
            "data": {
                "source": "data/late/churn/*.parquet",
                "window": {"lookback_days": 365, "path_date": "churn_%Y-%m"},
                "labels": {"source": "data/late/churn_labels/*.parquet", "arrived_at_column": "labelled_at"},
            },
            "registry": {"model_name": MODEL},
            "notifications": {
                "events": ["failure", "drift"],
                "slack_conn_id": "slack_default",
                "smtp_conn_id": "smtp_default",
                "email": ["oncall@example.com"],
            },
            "monitoring": {
                "schedule": "@monthly",
                "min_rows": 300,
                "retrain": {
                    "enabled": True,
                    "min_drifted_windows": 2,
                    "of_last_windows": 3,
                    "cooldown_hours": 0,
                },
            },
        },
    )


def _verdicts(name: str) -> dict[str, dict]:
    ledger = MonitorLedger(open_store(load_settings()), find_pipeline(name).name)
    return {v["window_start"][:7]: v for v in ledger.verdicts()}


def test_late_labels_train_score_and_realize_once(late: str, landing: dict[str, Path], notify_env) -> None:
    smtp, slack = notify_env
    # training on 2025-01..09 is not stopped by the newer files that have no target
    trained = run_training(late, logical_date="2025-10-01T00:00:00+00:00")
    assert trained.succeeded, trained.render()
    assert trained.records["ingest"]["unlabelled_dropped"] == 0

    windows = run_monitoring(late, ENDS, execute_retrains=False)
    assert [w.state for w in windows] == ["success"] * 6, [w.task_states for w in windows]
    before = _verdicts(late)
    rows = {w.records["window"]["window_start"][:7]: w.records["window"]["rows"] for w in windows}
    for month in ("2026-01", "2026-02", "2026-03"):  # labels came with the data: realized
        v = before[month]
        assert v["realized_quality"]["source"] == "window" and v["realized"] is not None, v
        assert v["labelled_rows"] > 300
    for month in ("2026-04", "2026-05", "2026-06"):  # features only: estimated, recorded as unlabelled
        v = before[month]
        assert v["realized"] is None and v["realized_quality"] is None and v["labelled_rows"] == 0, v
        assert v["estimated"] is not None and v["status"] != "degraded"
        assert [h["by"] for h in v["history"]] == ["monitor"]
    june = windows[-1].records["action"]
    assert june["retrain"] is False, june
    assert smtp.messages == [] and slack.requests == []  # drift alone pages nobody (alert_on's default)

    # April's and May's labels land; the next run of the monitor joins them before its guard counts
    _land(landing, *LATE)
    [rerun] = run_monitoring(late, [ENDS[-1]], execute_retrains=False)
    assert rerun.state == "success" and rerun.task_states["join_labels"] == "success", rerun.task_states
    after = _verdicts(late)
    for month in LATE:
        v = after[month]
        assert v["realized_quality"]["source"] == "labels", v
        assert v["labelled_rows"] == rows[month] and v["realized_quality"]["rows"] == rows[month]
        assert [h["by"] for h in v["history"]] == ["monitor", "labels"]
        assert v["history"][0]["status"] == before[month]["status"]  # estimated first, realized after
        assert v["history"][1]["realized"] == v["realized"] and v["estimated"] == before[month]["estimated"]
        # the concept change from 2026-03 hurts the champion: the labels show what the estimate cannot
        assert v["status"] == "degraded", v["reasons"]
    action = rerun.records["action"]
    assert action["recent_statuses"] == ["degraded", "degraded", after["2026-06"]["status"]], action
    assert action["retrain"] is False  # June itself (drift, on the estimate) is not one retrain.on acts on
    # the labels' news is paged once: both windows in one message, on both channels
    [email], [post] = smtp.wait_for(1), slack.wait_for(1)
    for text in (html.unescape(email.body), post.json["text"]):
        assert "late labels changed the verdict of 2 window(s)" in text, text
        assert "2026-04-01T00:00:00+00:00 .. 2026-05-01T00:00:00+00:00" in text and "-> degraded" in text

    # July comes labelled and degraded: the guard counts May by its final verdict, 2 of the last 3 qualify
    [july] = run_monitoring(late, [datetime(2026, 8, 1, tzinfo=UTC)], execute_retrains=False)
    action = july.records["action"]
    assert july.records["decision"]["status"] == "degraded", july.records["decision"]
    assert action["recent_statuses"] == ["degraded", after["2026-06"]["status"], "degraded"], action
    assert action["retrain"] is True and "2 of the last 3 window(s) qualify" in str(action["reasons"])
    assert len(smtp.wait_for(2)) == 2 and "model quality degraded" in smtp.messages[1].subject

    # June's labels land; `mlcycle labels` realizes June only: the others were realized once already
    _land(landing, "2026-06")
    settings = load_settings()
    outcomes = run_labels(find_pipeline(late), settings)
    assert [(o.window_start[:7], o.outcome) for o in outcomes] == [("2026-06", REALIZED)]
    assert "2026-06-01..2026-07-01" in render_labels(find_pipeline(late), outcomes)
    assert run_labels(find_pipeline(late), settings) == []
    assert len(smtp.messages) == 2 and len(slack.requests) == 2  # June stayed drift: no page
    final = _verdicts(late)
    assert final["2026-06"]["realized_quality"]["source"] == "labels"
    for month in LATE:
        assert final[month]["history"] == after[month]["history"]  # not realized a second time
    events = open_store(settings).list_keys(monitor_events_prefix(late))
    assert sorted(k.rsplit("/", 1)[-1][:8] for k in events if "-labels-" in k) == [
        "20260501",
        "20260601",
        "20260701",
    ]
