"""The monitoring verdict and the alert/retrain guard as pure functions, table by table.

Scoring's labels against real fitted models: tests/integration/core/decisions/test_monitor_decisions.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlcycle.config.monitoring import MonitoringConfig
from mlcycle.core.decisions.monitoring import (
    AT_RISK,
    DEGRADED,
    DRIFT,
    OK,
    PARAM_ALLOWS_RETRAIN,
    Action,
    GuardState,
    decide_action,
    decide_drift,
)
from mlcycle.core.drift import ColumnDrift, DatasetDrift, DomainClassifierResult

COLUMNS = ("a", "b", "c", "d")
NOW = datetime(2025, 7, 10, 6, 0, tzinfo=UTC)
WEEK = timedelta(hours=168)  # RetrainConfig's default cooldown


def _policy(**sections: dict[str, Any]) -> MonitoringConfig:
    return MonitoringConfig.model_validate(sections)


def _drift(
    drifted: tuple[str, ...] = (), prediction: bool | None = None, pred_score: float | None = 0.25
) -> dict:
    columns = [
        ColumnDrift(
            c, "numeric", "wasserstein", 0.3 if c in drifted else 0.02, 0.1, c in drifted, 5_000, 1_000
        )
        for c in COLUMNS
    ]
    share = len(drifted) / len(COLUMNS)
    pred = None
    if prediction is not None:
        score = pred_score if prediction else 0.01
        pred = ColumnDrift("prediction", "numeric", "wasserstein", score, 0.1, prediction, 5_000, 1_000)
    return DatasetDrift(columns, share, 0.5, share >= 0.5, pred).to_dict()


def _domain(auc: float, *drivers: str) -> dict:
    return DomainClassifierResult(
        auc=auc, auc_std=0.01, threshold=0.6, drifted=auc >= 0.6, reference_rows=2_000, current_rows=2_000,
        folds=3, drivers=[{"feature": f, "auc_drop": 0.1} for f in drivers],
    ).to_dict()  # fmt: skip


def _quality(metric: str, value: float | None, reference: float | None) -> dict:
    return {"metrics": {metric: value}, "reference": {metric: reference}, "rows": 500}


NO_COLUMNS = "0 of 4 feature columns drifted (share 0.00, dataset drift at >= 0.50)"
A_AND_C = "2 of 4 feature columns drifted (share 0.50, dataset drift at >= 0.50): a, c"
QUIET_DOMAIN = "domain classifier ROC AUC 0.520 (threshold 0.6)"
GOOD_AUC = "roc_auc on 500 labelled rows 0.8000 vs validation 0.8100 (drop +0.0100, allowed 0.05)"


# fmt: off
DRIFT_CASES = [
    pytest.param(
        _drift(), _domain(0.52), _quality("roc_auc", 0.80, 0.81), _policy(), "roc_auc", OK,
        (GOOD_AUC, NO_COLUMNS, QUIET_DOMAIN), id="no-drift",
    ),
    pytest.param(
        _drift(("a", "c")), _domain(0.52), None, _policy(), "roc_auc", DRIFT,
        (A_AND_C, QUIET_DOMAIN), id="dataset-drift",
    ),
    pytest.param(
        _drift(("a",)), None, None, _policy(), "roc_auc", OK,
        ("1 of 4 feature columns drifted (share 0.25, dataset drift at >= 0.50): a",), id="share-below",
    ),
    pytest.param(
        _drift(prediction=True), None, None, _policy(), "roc_auc", DRIFT,
        ("prediction drift: wasserstein 0.250 (threshold 0.1)", NO_COLUMNS), id="prediction-only",
    ),
    pytest.param(
        _drift(prediction=True, pred_score=None), None, None, _policy(), "roc_auc", DRIFT,
        ("prediction drift: wasserstein n/a (threshold 0.1)", NO_COLUMNS), id="prediction-all-null",
    ),
    pytest.param(
        _drift(prediction=False), None, None, _policy(), "roc_auc", OK,
        (NO_COLUMNS, "prediction drift: wasserstein 0.010 (threshold 0.1)"), id="prediction-stable",
    ),
    pytest.param(
        _drift(prediction=True), None, None, _policy(drift={"prediction_drift": False}), "roc_auc",
        OK, (NO_COLUMNS,), id="prediction-drift-off",
    ),
    pytest.param(
        _drift(), _domain(0.82, "a", "c"), None, _policy(), "roc_auc", DRIFT,
        ("domain classifier ROC AUC 0.820 (threshold 0.6); driven by a, c", NO_COLUMNS), id="domain-only",
    ),
    pytest.param(
        _drift(("a", "c")), _domain(0.82, "a"), _quality("roc_auc", 0.70, 0.80), _policy(), "roc_auc",
        DEGRADED,
        (
            "roc_auc on 500 labelled rows 0.7000 vs validation 0.8000 (drop +0.1000, allowed 0.05)",
            A_AND_C,
            "domain classifier ROC AUC 0.820 (threshold 0.6); driven by a",
        ),
        id="degraded-beats-drift",
    ),
    pytest.param(
        _drift(), None, _quality("roc_auc", 0.70, 0.80), _policy(), "roc_auc", DEGRADED,
        ("roc_auc on 500 labelled rows 0.7000 vs validation 0.8000 (drop +0.1000, allowed 0.05)", NO_COLUMNS),
        id="degraded-without-drift",
    ),
    pytest.param(
        _drift(), None, _quality("rmse", 1.30, 1.20), _policy(), "rmse", DEGRADED,
        ("rmse on 500 labelled rows 1.3000 vs validation 1.2000 (drop +0.1000, allowed 0.05)", NO_COLUMNS),
        id="rmse-rises",
    ),
    pytest.param(
        _drift(), None, _quality("rmse", 1.10, 1.20), _policy(), "rmse", OK,
        ("rmse on 500 labelled rows 1.1000 vs validation 1.2000 (drop -0.1000, allowed 0.05)", NO_COLUMNS),
        id="rmse-falls",
    ),
    pytest.param(
        _drift(), None, _quality("roc_auc", 0.75, 0.80), _policy(), "roc_auc", OK,
        ("roc_auc on 500 labelled rows 0.7500 vs validation 0.8000 (drop +0.0500, allowed 0.05)", NO_COLUMNS),
        id="drop-exactly-max",
    ),
    pytest.param(
        _drift(), None, _quality("rmse", 1.25, 1.20), _policy(), "rmse", OK,
        ("rmse on 500 labelled rows 1.2500 vs validation 1.2000 (drop +0.0500, allowed 0.05)", NO_COLUMNS),
        id="rmse-rise-exactly-max",
    ),
    pytest.param(
        _drift(), None, _quality("roc_auc", 0.78, 0.80), _policy(quality={"max_drop": 0.01}), "roc_auc",
        DEGRADED,
        ("roc_auc on 500 labelled rows 0.7800 vs validation 0.8000 (drop +0.0200, allowed 0.01)", NO_COLUMNS),
        id="max-drop-from-policy",
    ),
    pytest.param(
        _drift(), None, {"metrics": {"accuracy": 0.9}, "reference": {"roc_auc": 0.8}, "rows": 500}, _policy(),
        "roc_auc", OK,
        (NO_COLUMNS, "quality not compared: roc_auc unavailable on the window or the champion"),
        id="quality-metric-missing",
    ),
    pytest.param(
        _drift(), None, _quality("roc_auc", float("nan"), 0.8), _policy(), "roc_auc", OK,
        (NO_COLUMNS, "quality not compared: roc_auc unavailable on the window or the champion"),
        id="quality-nan",
    ),
    pytest.param(
        _drift(("a", "c")), None, _quality("roc_auc", 0.5, None), _policy(), "roc_auc", DRIFT,
        (A_AND_C, "quality not compared: roc_auc unavailable on the window or the champion"),
        id="champion-metric-missing",
    ),
]
# fmt: on


@pytest.mark.parametrize(("drift", "domain", "quality", "policy", "metric", "status", "reasons"), DRIFT_CASES)
def test_decide_drift(
    drift: dict,
    domain: dict | None,
    quality: dict | None,
    policy: MonitoringConfig,
    metric: str,
    status: str,
    reasons: tuple[str, ...],
) -> None:
    verdict = decide_drift(drift, domain, quality, policy, metric)
    assert verdict.status == status
    assert verdict.reasons == reasons
    assert verdict.to_dict()["status"] == status
    assert tuple(sig["text"] for sig in verdict.to_dict()["signals"]) == tuple(
        r for r in reasons if not r.startswith("quality not compared")
    )


ALERT_SENT = "alert: sent"
ALERT_OFF = "alert: off ('drift' is not in notifications.events or no channel is set)"


def _triggered(hits: int = 1, of: int = 1) -> str:
    return f"retrain: triggered ({hits} of the last {of} window(s) qualify)"


RETRAIN_ON = {"enabled": True}
NOTHING = (
    "recorded, nothing to do (monitoring.alert_on ['at_risk', 'degraded'], "
    "monitoring.retrain.on ['at_risk', 'degraded'])"
)


# fmt: off
ACTION_CASES = [
    pytest.param(
        OK, GuardState(recent=(OK,)), RETRAIN_ON, {}, False, False,
        (f"ok: {NOTHING}",), id="ok",
    ),
    pytest.param(
        "no_drift", GuardState(recent=("no_drift",)), RETRAIN_ON, {}, False, False,
        (f"ok: {NOTHING}",), id="legacy-no-drift-is-ok",
    ),
    pytest.param(
        DRIFT, GuardState(recent=(DRIFT, DRIFT)), RETRAIN_ON, {}, False, False,
        (f"drift: {NOTHING}",), id="drift-alone-is-recorded-not-acted-on",
    ),
    pytest.param(
        AT_RISK, GuardState(recent=(AT_RISK,)), RETRAIN_ON, {}, True, True,
        (ALERT_SENT, _triggered()), id="at-risk-alerts-and-retrains",
    ),
    pytest.param(
        DRIFT, GuardState(recent=(DRIFT,)), {"enabled": True, "on": ["drift", "degraded"]}, {}, False, True,
        ("alert: off, status 'drift' is not in monitoring.alert_on ['at_risk', 'degraded']", _triggered()),
        id="drift-retrains-where-the-yaml-says",
    ),
    pytest.param(
        DRIFT, GuardState(recent=(DEGRADED, "no_drift", DRIFT)),
        {"enabled": True, "on": ["drift", "degraded"], "min_drifted_windows": 2, "of_last_windows": 3}, {},
        False, True,
        ("alert: off, status 'drift' is not in monitoring.alert_on ['at_risk', 'degraded']", _triggered(2, 3)),
        id="drift-and-degraded-count-together",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,)), {}, {}, True, False,
        (ALERT_SENT, "retrain: not triggered, monitoring.retrain.enabled is false"), id="defaults-alert-only",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,)), RETRAIN_ON, {}, True, True, (ALERT_SENT, _triggered()),
        id="alert-and-retrain",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,)), RETRAIN_ON, {}, True, True, (ALERT_SENT, _triggered()),
        id="degraded-retrains",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,), last_alert_at=NOW - WEEK + timedelta(seconds=1)), RETRAIN_ON, {},
        False, True,
        (
            "alert: suppressed, last alert (window ending 2025-07-03T06:00:01+00:00) is within the 168 h "
            "cooldown, until 2025-07-10T06:00:01+00:00",
            _triggered(),
        ),
        id="alert-within-cooldown",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,), last_alert_at=NOW - WEEK), RETRAIN_ON, {}, True, True,
        (ALERT_SENT, _triggered()), id="alert-exactly-at-cooldown",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,), last_alert_at=NOW - timedelta(days=30)), RETRAIN_ON, {}, True,
        True, (ALERT_SENT, _triggered()), id="alert-after-cooldown",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,)), RETRAIN_ON, {"alerts_enabled": False}, False, True,
        (ALERT_OFF, _triggered()), id="alerts-disabled",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,)), {}, {"retrain_param": True}, True, True,
        (ALERT_SENT, _triggered(), PARAM_ALLOWS_RETRAIN), id="param-true-overrides-disabled",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,)), RETRAIN_ON, {"retrain_param": False}, True, False,
        (ALERT_SENT, "retrain: not triggered, the run's allow_retrain param is false"), id="param-false",
    ),
    pytest.param(
        AT_RISK, GuardState(recent=(AT_RISK,)), {"enabled": True, "on": ["degraded"]}, {}, True, False,
        (
            ALERT_SENT,
            "retrain: not triggered, status 'at_risk' is not in monitoring.retrain.on ['degraded']",
            "retrain: not triggered, 0 of the last 1 window(s) qualify; 1 of 1 needed",
        ),
        id="status-not-in-on",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,)), RETRAIN_ON, {"is_backfill": True}, False, False,
        (
            "alert: off, backfill run: past windows are recorded, not paged "
            "(set monitoring.retrain.on_backfill or the allow_retrain param to act on them)",
            "retrain: not triggered, backfill run (set monitoring.retrain.on_backfill or the allow_retrain param)",
        ),
        id="backfill-blocked",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,)), {"enabled": True, "on_backfill": True}, {"is_backfill": True},
        True, True, (ALERT_SENT, _triggered()), id="backfill-on-backfill",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,)), {}, {"is_backfill": True, "retrain_param": True}, True, True,
        (ALERT_SENT, _triggered(), PARAM_ALLOWS_RETRAIN), id="backfill-param-true",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(OK, OK, DEGRADED)),
        {"enabled": True, "min_drifted_windows": 2, "of_last_windows": 3}, {}, True, False,
        (ALERT_SENT, "retrain: not triggered, 1 of the last 3 window(s) qualify; 2 of 3 needed"),
        id="n-of-m-not-met",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED, OK, DEGRADED)),
        {"enabled": True, "min_drifted_windows": 2, "of_last_windows": 3}, {}, True, True,
        (ALERT_SENT, _triggered(2, 3)), id="n-of-m-met",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED, DEGRADED, OK, OK, DEGRADED)),
        {"enabled": True, "min_drifted_windows": 2, "of_last_windows": 3}, {}, True, False,
        (ALERT_SENT, "retrain: not triggered, 1 of the last 3 window(s) qualify; 2 of 3 needed"),
        id="n-of-m-only-last-m-count",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,)),
        {"enabled": True, "min_drifted_windows": 2, "of_last_windows": 3}, {}, True, False,
        (ALERT_SENT, "retrain: not triggered, 1 of the last 1 window(s) qualify; 2 of 3 needed"),
        id="n-of-m-short-history",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(AT_RISK, DEGRADED)),
        {"enabled": True, "on": ["degraded"], "min_drifted_windows": 2, "of_last_windows": 2}, {}, True, False,
        (ALERT_SENT, "retrain: not triggered, 1 of the last 2 window(s) qualify; 2 of 2 needed"),
        id="n-of-m-counts-only-statuses-in-on",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,), active_training_runs=1), RETRAIN_ON, {}, True, False,
        (ALERT_SENT, "retrain: not triggered, 1 training run(s) already queued or running"),
        id="training-run-active",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,), last_retrain_at=NOW - timedelta(hours=10)), RETRAIN_ON, {}, True,
        False,
        (
            ALERT_SENT,
            "retrain: not triggered, last retrain (window ending 2025-07-09T20:00:00+00:00) is within the "
            "168 h cooldown, until 2025-07-16T20:00:00+00:00",
        ),
        id="retrain-within-cooldown",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,), last_retrain_at=NOW - WEEK + timedelta(seconds=1)), RETRAIN_ON, {},
        True, False,
        (
            ALERT_SENT,
            "retrain: not triggered, last retrain (window ending 2025-07-03T06:00:01+00:00) is within the "
            "168 h cooldown, until 2025-07-10T06:00:01+00:00",
        ),
        id="retrain-one-second-before-cooldown",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,), last_retrain_at=NOW - WEEK), RETRAIN_ON, {}, True, True,
        (ALERT_SENT, _triggered()), id="retrain-exactly-at-cooldown",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,), last_retrain_at=NOW, last_alert_at=NOW),
        {"enabled": True, "cooldown_hours": 0}, {}, True, True, (ALERT_SENT, _triggered()),
        id="zero-cooldown",
    ),
    pytest.param(
        DEGRADED,
        GuardState(recent=(OK, DEGRADED), last_retrain_at=NOW - timedelta(hours=1), active_training_runs=2),
        {"min_drifted_windows": 2, "of_last_windows": 2}, {"is_backfill": True, "alerts_enabled": False},
        False, False,
        (
            ALERT_OFF,
            "retrain: not triggered, monitoring.retrain.enabled is false",
            "retrain: not triggered, backfill run (set monitoring.retrain.on_backfill or the allow_retrain param)",
            "retrain: not triggered, 1 of the last 2 window(s) qualify; 2 of 2 needed",
            "retrain: not triggered, 2 training run(s) already queued or running",
            "retrain: not triggered, last retrain (window ending 2025-07-10T05:00:00+00:00) is within the "
            "168 h cooldown, until 2025-07-17T05:00:00+00:00",
        ),
        id="every-blocker-listed",
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("status", "state", "retrain", "kwargs", "alert", "retrain_now", "reasons"), ACTION_CASES
)
def test_decide_action(
    status: str,
    state: GuardState,
    retrain: dict[str, Any],
    kwargs: dict[str, Any],
    alert: bool,
    retrain_now: bool,
    reasons: tuple[str, ...],
) -> None:
    options: dict[str, Any] = {"alerts_enabled": True, **kwargs}
    policy = _policy(retrain=retrain)
    action = decide_action(status, state, policy, NOW, **options)
    counts = status in policy.retrain.on
    assert action == Action(alert, retrain_now, reasons, counts=counts)
    assert action.to_dict() == {
        "alert": alert,
        "retrain": retrain_now,
        "reasons": reasons,
        "note": action.note,
        "counts": counts,
    }


def test_alert_and_retrain_share_the_policy_cooldown() -> None:
    policy = _policy(retrain={"enabled": True, "cooldown_hours": 6})
    state = GuardState(
        recent=(DEGRADED,), last_alert_at=NOW - timedelta(hours=5), last_retrain_at=NOW - timedelta(hours=7)
    )
    action = decide_action(DEGRADED, state, policy, NOW, alerts_enabled=True)
    assert (action.alert, action.retrain) == (False, True)
    assert action.reasons[0].endswith("is within the 6 h cooldown, until 2025-07-10T07:00:00+00:00")


# fmt: off
NOTE_CASES = [
    pytest.param(OK, GuardState(recent=(OK,)), {}, "-", id="no-drift"),
    pytest.param(DEGRADED, GuardState(recent=(DEGRADED,)), {}, "retrain disabled", id="disabled"),
    pytest.param(DEGRADED, GuardState(recent=(DEGRADED,)), RETRAIN_ON, "retrain", id="triggered"),
    pytest.param(
        DEGRADED, GuardState(recent=(OK, DEGRADED)), {"enabled": True, "min_drifted_windows": 2, "of_last_windows": 3},
        "1 qualify, 2 of 3 needed", id="n-of-m",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,), last_retrain_at=NOW - timedelta(hours=10)), RETRAIN_ON,
        "cooldown until 2025-07-16", id="cooldown",
    ),
    pytest.param(
        DEGRADED, GuardState(recent=(DEGRADED,), active_training_runs=1), RETRAIN_ON, "training run active",
        id="active",
    ),
]
# fmt: on


def _estimate(metric: str, value: float, reference: float, band: tuple[float, float] = (0.0, 1.0)) -> dict:
    return {
        "metrics": {metric: {"value": value, "lower": band[0], "upper": band[1]}},
        "reference": {metric: reference},
        "rows": 500,
    }


EST_LOW = (
    "estimated roc_auc on 500 rows (no labels needed) 0.7000 [0.6800, 0.7200] vs validation 0.8000 "
    "(drop +0.1000, allowed 0.05)"
)
EST_FINE = (
    "estimated roc_auc on 500 rows (no labels needed) 0.7900 [0.7700, 0.8100] vs validation 0.8000 "
    "(drop +0.0100, allowed 0.05)"
)
BAD_AUC = "roc_auc on 500 labelled rows 0.7000 vs validation 0.8000 (drop +0.1000, allowed 0.05)"


# fmt: off
ESTIMATE_CASES = [
    pytest.param(
        _drift(), None, None, _estimate("roc_auc", 0.70, 0.80, (0.68, 0.72)), AT_RISK,
        (EST_LOW, NO_COLUMNS), ("estimated_quality",), id="estimate-low-without-labels-at-risk",
    ),
    pytest.param(
        _drift(("a", "c")), _domain(0.82, "a"), None, _estimate("roc_auc", 0.79, 0.80, (0.77, 0.81)), DRIFT,
        (A_AND_C, "domain classifier ROC AUC 0.820 (threshold 0.6); driven by a", EST_FINE),
        ("dataset_drift", "domain_classifier"), id="harmless-drift-stays-drift",
    ),
    pytest.param(
        _drift(), None, _quality("roc_auc", 0.80, 0.81), _estimate("roc_auc", 0.70, 0.80, (0.68, 0.72)), OK,
        (GOOD_AUC, EST_LOW + "; labels decide", NO_COLUMNS), (), id="labels-outrank-a-low-estimate",
    ),
    pytest.param(
        _drift(), None, _quality("roc_auc", 0.70, 0.80), _estimate("roc_auc", 0.79, 0.80, (0.77, 0.81)),
        DEGRADED, (BAD_AUC, EST_FINE + "; labels decide", NO_COLUMNS), ("realized_quality",),
        id="concept-drift-with-labels-degraded-though-estimate-fine",
    ),
    pytest.param(
        _drift(("a", "c")), None, None, _estimate("roc_auc", 0.70, 0.80, (0.68, 0.72)), AT_RISK,
        (EST_LOW, A_AND_C), ("estimated_quality", "dataset_drift"), id="at-risk-leads-drift",
    ),
]
# fmt: on


@pytest.mark.parametrize(("status", "state", "retrain", "note"), NOTE_CASES)
def test_action_note_says_what_happened(
    status: str, state: GuardState, retrain: dict[str, Any], note: str
) -> None:
    action = decide_action(status, state, _policy(retrain=retrain), NOW, alerts_enabled=True)
    assert action.note == note


def test_cooldown_is_measured_between_window_ends() -> None:
    """A replay of monthly windows: a retrain for January's window blocks February's (within 30 days
    of data time), not March's, however quickly the replay runs on the wall clock."""
    policy = _policy(retrain={"enabled": True, "cooldown_hours": 24 * 30})
    jan_end = datetime(2025, 2, 1, tzinfo=UTC)
    feb = decide_action(
        DEGRADED,
        GuardState(recent=(DEGRADED,), last_retrain_at=jan_end),
        policy,
        datetime(2025, 3, 1, tzinfo=UTC),
        alerts_enabled=False,
    )
    mar = decide_action(
        DEGRADED,
        GuardState(recent=(DEGRADED,), last_retrain_at=jan_end),
        policy,
        datetime(2025, 4, 1, tzinfo=UTC),
        alerts_enabled=False,
    )
    assert (feb.retrain, feb.note) == (False, "cooldown until 2025-03-03")
    assert (mar.retrain, mar.note) == (True, "retrain")


@pytest.mark.parametrize(
    ("drift", "domain", "quality", "estimate", "status", "reasons", "fired"), ESTIMATE_CASES
)
def test_decide_drift_with_an_estimate(
    drift: dict,
    domain: dict | None,
    quality: dict | None,
    estimate: dict,
    status: str,
    reasons: tuple[str, ...],
    fired: tuple[str, ...],
) -> None:
    verdict = decide_drift(drift, domain, quality, _policy(), "roc_auc", estimate)
    assert (verdict.status, verdict.reasons) == (status, reasons)
    assert tuple(s.name for s in verdict.signals if s.fired) == fired
    lead = verdict.signals[0]
    if fired:
        assert lead.fired and lead.text == reasons[0]


def test_the_domain_threshold_says_how_it_was_set() -> None:
    domain = {**_domain(0.58, "a"), "threshold": 0.5712, "drifted": True,
              "threshold_basis": "no-drift baseline 0.497 ± 0.010 + 0.050"}  # fmt: skip
    verdict = decide_drift(_drift(), domain, None, _policy(), "roc_auc")
    assert verdict.status == DRIFT
    assert verdict.reasons[0] == (
        "domain classifier ROC AUC 0.580 (threshold 0.571, no-drift baseline 0.497 ± 0.010 + 0.050); driven by a"
    )
