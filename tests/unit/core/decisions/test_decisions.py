"""The promotion gate as a pure function: no MLflow, no I/O."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mlcycle.config.schema import EvaluationConfig
from mlcycle.core.decisions.promotion import ChampionScore, decide_promotion, improvement


def _policy(**kwargs: Any) -> EvaluationConfig:
    return EvaluationConfig.model_validate({"primary_metric": "roc_auc", **kwargs})


def test_thresholds_met_and_no_champion_promotes() -> None:
    policy = _policy(thresholds={"roc_auc": 0.7, "f1": 0.3})
    decision = decide_promotion({"roc_auc": 0.81, "f1": 0.42}, None, policy)
    assert decision.promote is True
    assert decision.verdict == "passed"
    assert decision.champion_version is None
    assert decision.forced is False
    assert any("roc_auc = 0.8100 meets threshold >= 0.7" in r for r in decision.reasons)
    assert any("f1 = 0.4200 meets threshold >= 0.3" in r for r in decision.reasons)
    assert any("no champion yet" in r for r in decision.reasons)


def test_threshold_missed_rejects_and_names_metric() -> None:
    policy = _policy(thresholds={"roc_auc": 0.7, "f1": 0.3})
    decision = decide_promotion({"roc_auc": 0.81, "f1": 0.25}, None, policy)
    assert decision.promote is False
    assert decision.verdict == "rejected"
    assert decision.reasons[0] == "f1 = 0.2500 misses threshold >= 0.3"


def test_threshold_exactly_met_passes() -> None:
    decision = decide_promotion({"roc_auc": 0.7}, None, _policy(thresholds={"roc_auc": 0.7}))
    assert decision.promote is True


@pytest.mark.parametrize("metric", ["log_loss", "rmse"])
def test_lower_is_better_threshold(metric: str) -> None:
    policy = EvaluationConfig.model_validate({"primary_metric": metric, "thresholds": {metric: 0.5}})
    good = decide_promotion({metric: 0.4}, None, policy)
    bad = decide_promotion({metric: 0.6}, None, policy)
    assert good.promote is True
    assert any(f"{metric} = 0.4000 meets threshold <= 0.5" in r for r in good.reasons)
    assert bad.promote is False
    assert any(f"{metric} = 0.6000 misses threshold <= 0.5" in r for r in bad.reasons)


@pytest.mark.parametrize("metric", ["log_loss", "rmse"])
def test_lower_is_better_champion_comparison(metric: str) -> None:
    policy = EvaluationConfig.model_validate({"primary_metric": metric, "max_regression": 0.0})
    champion = ChampionScore("3", {metric: 0.50})
    better = decide_promotion({metric: 0.40}, champion, policy)
    worse = decide_promotion({metric: 0.60}, champion, policy)
    assert better.promote is True
    assert better.champion_version == "3"
    assert any("change +0.1000" in r for r in better.reasons)
    assert worse.promote is False
    assert any("change -0.1000" in r for r in worse.reasons)


def test_improvement_sign_follows_metric_direction() -> None:
    assert improvement("roc_auc", 0.9, 0.8) == pytest.approx(0.1)
    assert improvement("rmse", 0.9, 0.8) == pytest.approx(-0.1)
    assert improvement("log_loss", 0.2, 0.3) == pytest.approx(0.1)


def test_regression_within_allowance_promotes() -> None:
    policy = _policy(max_regression=0.01)
    decision = decide_promotion({"roc_auc": 0.795}, ChampionScore("7", {"roc_auc": 0.80}), policy)
    assert decision.promote is True
    assert decision.champion_version == "7"
    assert any("candidate 0.7950 vs champion v7 0.8000" in r for r in decision.reasons)


def test_regression_exactly_at_allowance_promotes() -> None:
    # Binary-exact values: the boundary itself is inclusive ("largest regression allowed").
    policy = _policy(max_regression=0.25)
    decision = decide_promotion({"roc_auc": 0.5}, ChampionScore("7", {"roc_auc": 0.75}), policy)
    assert decision.promote is True


def test_regression_of_allowance_in_decimal_metrics_promotes() -> None:
    # 0.80 -> 0.79 is a regression of exactly max_regression=0.01 as every reader sees it (the
    # reason text prints "change -0.0100, largest regression allowed 0.01"); it must not be
    # rejected by binary floating-point noise (0.79 - 0.80 == -0.010000000000000009).
    policy = _policy(max_regression=0.01)
    decision = decide_promotion({"roc_auc": 0.79}, ChampionScore("7", {"roc_auc": 0.80}), policy)
    assert decision.promote is True, decision.reasons


def test_regression_beyond_allowance_rejects() -> None:
    policy = _policy(max_regression=0.01)
    decision = decide_promotion({"roc_auc": 0.78}, ChampionScore("7", {"roc_auc": 0.80}), policy)
    assert decision.promote is False
    assert decision.reasons[0].startswith("roc_auc: candidate 0.7800 vs champion v7 0.8000 (change -0.0200")


def test_no_regression_allowed_by_default() -> None:
    decision = decide_promotion({"roc_auc": 0.7999}, ChampionScore("1", {"roc_auc": 0.80}), _policy())
    assert decision.promote is False


@pytest.mark.parametrize(
    "champion",
    [
        ChampionScore("4", {}, "MlflowException: model artifact missing"),
        ChampionScore("4", {"roc_auc": None}),
        ChampionScore("4", {"roc_auc": math.nan}),
    ],
    ids=["error", "metric-none", "metric-nan"],
)
def test_incomparable_champion_rejected_by_default(champion: ChampionScore) -> None:
    decision = decide_promotion({"roc_auc": 0.9}, champion, _policy())
    assert decision.promote is False
    assert decision.champion_version == "4"
    assert any("champion v4 could not be scored" in r and "not promoting" in r for r in decision.reasons)


def test_incomparable_champion_error_text_is_kept() -> None:
    champion = ChampionScore("4", {}, "MlflowException: model artifact missing")
    decision = decide_promotion({"roc_auc": 0.9}, champion, _policy())
    assert any("(MlflowException: model artifact missing)" in r for r in decision.reasons)


def test_incomparable_champion_promoted_when_policy_says_so() -> None:
    champion = ChampionScore("4", {}, "TypeError: cannot load")
    decision = decide_promotion({"roc_auc": 0.9}, champion, _policy(on_incomparable_champion="promote"))
    assert decision.promote is True
    assert decision.forced is False
    assert any("on_incomparable_champion is 'promote'" in r for r in decision.reasons)


def test_incomparable_champion_still_needs_thresholds() -> None:
    policy = _policy(on_incomparable_champion="promote", thresholds={"roc_auc": 0.95})
    decision = decide_promotion({"roc_auc": 0.9}, ChampionScore("4", {}, "boom"), policy)
    assert decision.promote is False


@pytest.mark.parametrize("value", [None, math.nan])
def test_uncomputable_candidate_metric_rejects(value: float | None) -> None:
    policy = _policy(thresholds={"roc_auc": 0.7})
    decision = decide_promotion({"roc_auc": value}, None, policy)
    assert decision.promote is False
    assert "roc_auc could not be computed on the holdout (threshold >= 0.7)" in decision.reasons
    assert "primary metric roc_auc could not be computed on the holdout" in decision.reasons


def test_missing_threshold_metric_rejects() -> None:
    policy = _policy(thresholds={"f1": 0.3})
    decision = decide_promotion({"roc_auc": 0.9}, None, policy)
    assert decision.promote is False
    assert decision.reasons[0] == "f1 could not be computed on the holdout (threshold >= 0.3)"


def test_nan_candidate_cannot_beat_champion() -> None:
    decision = decide_promotion({"roc_auc": math.nan}, ChampionScore("2", {"roc_auc": 0.6}), _policy())
    assert decision.promote is False


def test_force_overrides_failures_and_is_recorded() -> None:
    policy = _policy(thresholds={"roc_auc": 0.9})
    decision = decide_promotion({"roc_auc": 0.6}, ChampionScore("5", {"roc_auc": 0.8}), policy, force=True)
    assert decision.promote is True
    assert decision.forced is True
    assert decision.champion_version == "5"
    assert decision.reasons[0] == "forced by the run's force_promote param despite:"
    assert "roc_auc = 0.6000 misses threshold >= 0.9" in decision.reasons
    record = decision.to_dict()
    assert record["forced"] is True
    assert record["verdict"] == "passed"


def test_force_without_failures_is_not_marked_forced() -> None:
    decision = decide_promotion({"roc_auc": 0.9}, None, _policy(thresholds={"roc_auc": 0.7}), force=True)
    assert decision.promote is True
    assert decision.forced is False
    assert not any("forced" in r for r in decision.reasons)


def test_failures_are_listed_before_passes() -> None:
    policy = _policy(thresholds={"roc_auc": 0.7, "f1": 0.5})
    decision = decide_promotion({"roc_auc": 0.8, "f1": 0.1}, None, policy)
    failing = decision.reasons.index("f1 = 0.1000 misses threshold >= 0.5")
    passing = decision.reasons.index("roc_auc = 0.8000 meets threshold >= 0.7")
    assert failing < passing


def test_decision_to_dict_is_plain_data() -> None:
    record = decide_promotion({"roc_auc": 0.8}, None, _policy()).to_dict()
    assert set(record) == {
        "promote",
        "reasons",
        "champion_version",
        "forced",
        "verdict",
        "slices",
        "fairness",
    }
    assert record["verdict"] == "passed"


def test_a_rerun_on_the_champions_own_inputs_is_not_promoted_again() -> None:
    same = ChampionScore("2", {"roc_auc": 0.80}, same_inputs=True)
    decision = decide_promotion({"roc_auc": 0.80}, same, _policy())
    assert decision.promote is False
    assert any("same snapshot with the same config" in r for r in decision.reasons), decision.reasons
    assert decide_promotion({"roc_auc": 0.80}, same, _policy(), force=True).promote is True
