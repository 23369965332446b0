"""The shadow verdict as a pure function: when it waits, promotes and rejects, and why."""

from __future__ import annotations

import pytest

from mlcycle.config.schema import ShadowConfig
from mlcycle.core.decisions.shadow import PENDING, PROMOTE, REJECT, ShadowWindow, decide_shadow


def _w(champion: float | None, challenger: float | None, key: str = "w", version: str = "1") -> ShadowWindow:
    return ShadowWindow(key, version, champion, challenger)


POLICY = ShadowConfig(windows=3, min_labeled_windows=2, min_gain=0.0)

# (windows, policy, metric, expected outcome, text in the first reason)
CASES = [
    ([_w(0.80, 0.85)], POLICY, "roc_auc", PENDING, "waiting for 2 more window(s)"),
    ([_w(0.80, 0.85)] * 3, POLICY, "roc_auc", PROMOTE, "beats champion v1: mean roc_auc gain +0.0500"),
    ([_w(0.80, 0.75)] * 3, POLICY, "roc_auc", REJECT, "does not beat champion v1: mean roc_auc gain -0.0500"),
    # better on average but worse on 2 of 3 windows: a majority, rejected
    ([_w(0.80, 0.99), _w(0.80, 0.79), _w(0.80, 0.79)], POLICY, "roc_auc", REJECT, "worse on 2 of 3"),
    # worse on 1 of 2 labeled windows (not a majority) with a positive mean gain: promoted
    ([_w(0.80, 0.90), _w(0.80, 0.79), _w(None, None)], POLICY, "roc_auc", PROMOTE, "worse on 1 of 2"),
    # equal is not worse, and a gain of exactly min_gain passes
    ([_w(0.80, 0.80)] * 3, POLICY, "roc_auc", PROMOTE, "gain +0.0000 (needs >= +0.0000)"),
    ([_w(0.80, 0.81)] * 3, ShadowConfig(windows=3, min_gain=0.02), "roc_auc", REJECT, "needs >= +0.0200"),
    # unlabeled windows count toward N but not the verdict; too few labeled ones: rejected
    (
        [_w(0.80, 0.90), _w(None, None), _w(0.8, None)],
        POLICY,
        "roc_auc",
        REJECT,
        "only 1 of 3 window(s) had labels",
    ),
    ([_w(None, None)] * 3, POLICY, "roc_auc", REJECT, "only 0 of 3 window(s) had labels"),
    # lower is better for an error metric
    ([_w(10.0, 8.0)] * 3, POLICY, "rmse", PROMOTE, "mean rmse gain +2.0000"),
    ([_w(10.0, 12.0)] * 3, POLICY, "rmse", REJECT, "mean rmse gain -2.0000"),
    # only the first N windows count
    ([_w(0.80, 0.85)] * 3 + [_w(0.80, 0.10)], POLICY, "roc_auc", PROMOTE, "worse on 0 of 3"),
]


@pytest.mark.parametrize(("windows", "policy", "metric", "outcome", "text"), CASES)
def test_decide_shadow_table(windows, policy, metric, outcome, text) -> None:
    verdict = decide_shadow(windows, policy, metric, challenger="2", baseline="1", champion="1")
    assert verdict.outcome == outcome, verdict.reasons
    assert text in verdict.reasons[0], verdict.reasons
    assert verdict.reasons[0].startswith("shadow: ")
    assert verdict.windows == min(len(windows), policy.windows)


def test_running_comparison_lists_every_window() -> None:
    windows = [_w(0.80, 0.84, "a"), _w(None, None, "b")]
    verdict = decide_shadow(windows, POLICY, "roc_auc", challenger="2", baseline="1", champion="1")
    assert verdict.outcome == PENDING and verdict.labeled == 1
    assert verdict.mean_gain == pytest.approx(0.04)
    assert "2 of 3 window(s) scored, 1 labeled, mean roc_auc gain +0.0400, worse on 0" in verdict.reasons
    assert "window a: roc_auc challenger v2 0.8400 vs champion v1 0.8000 (gain +0.0400)" in verdict.reasons
    assert "window b: no usable labels (counts toward 3, not the verdict)" in verdict.reasons


def test_champion_moved_while_in_shadow_rejects() -> None:
    verdict = decide_shadow([_w(0.8, 0.9)] * 3, POLICY, "roc_auc", challenger="3", baseline="1", champion="2")
    assert verdict.outcome == REJECT
    assert "champion moved from v1 to v2 while v3 was in shadow" in verdict.reasons[0]
