"""The slice gate and the fairness check as pure functions, their config, and their figures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlcycle.config.schema import EvaluationConfig, FairnessConfig
from mlcycle.core.decisions.promotion import ChampionScore, decide_fairness, decide_promotion, decide_slices
from mlcycle.core.features import snapshot_columns
from mlcycle.core.metrics import fairness_figure
from mlcycle.errors import ConfigError
from tests.unit.conftest import PipelineFactory


def _policy(**kwargs: Any) -> EvaluationConfig:
    return EvaluationConfig.model_validate(
        {"primary_metric": "roc_auc", "slices": ["plan"], "min_slice_size": 50, **kwargs}
    )


def _row(value: str, cand: float | None, champ: float | None = None, rows: int = 300) -> dict[str, Any]:
    row: dict[str, Any] = {"column": "plan", "value": value, "rows": rows, "metrics": {"roc_auc": cand}}
    if champ is not None:
        row["champion_metrics"] = {"roc_auc": champ}
    return row


CHAMP = ChampionScore("3", {"roc_auc": 0.75})
SMALL = {"column": "plan", "value": "gold", "rows": 12, "skipped": "too small"}

# (case, slice row, champion, slice_gate, expected status, expected text in the reasons)
SLICE_CASES = [
    (
        "regression beyond tolerance",
        _row("premium", 0.61, 0.74),
        CHAMP,
        {"max_regression": 0.05},
        "failed",
        "slice plan=premium: roc_auc 0.6100 vs champion v3 0.7400 (-0.1300, more than the 0.05 allowed)",
    ),
    (
        "regression within tolerance",
        _row("basic", 0.70, 0.74),
        CHAMP,
        {"max_regression": 0.05},
        "passed",
        "(-0.0400, within the 0.05 allowed)",
    ),
    ("exactly at tolerance", _row("basic", 0.69, 0.74), CHAMP, {"max_regression": 0.05}, "passed", "within"),
    (
        "too small is skipped, never ok",
        SMALL,
        CHAMP,
        {"max_regression": 0.05},
        "skipped",
        "slice plan=gold: skipped, 12 rows < min_slice_size 50; not gated",
    ),
    (
        "undefined metric is not compared",
        _row("basic", None, 0.7),
        CHAMP,
        {},
        "skipped",
        "roc_auc not compared, undefined on its 300 rows",
    ),
    (
        "champion not scored on the slice",
        _row("basic", 0.7),
        ChampionScore("3", {}, "boom"),
        {},
        "skipped",
        "champion v3 was not scored",
    ),
    (
        "no champion and no floor: nothing checked",
        _row("basic", 0.7),
        None,
        {},
        "skipped",
        "nothing to check, no champion yet",
    ),
    (
        "no champion: the floor applies",
        _row("basic", 0.55),
        None,
        {"thresholds": {"roc_auc": 0.6}},
        "failed",
        "slice plan=basic: roc_auc 0.5500 misses floor >= 0.6",
    ),
    (
        "floor met and champion matched",
        _row("basic", 0.75, 0.75),
        CHAMP,
        {"thresholds": {"roc_auc": 0.6}},
        "passed",
        "meets floor >= 0.6",
    ),
    (
        "undefined metric fails a floor",
        _row("basic", None),
        None,
        {"thresholds": {"roc_auc": 0.6}},
        "failed",
        "could not be computed on its 300 rows",
    ),
]


@pytest.mark.parametrize(
    ("row", "champion", "gate", "status", "text"),
    [c[1:] for c in SLICE_CASES],
    ids=[c[0] for c in SLICE_CASES],
)
def test_slice_gate(row: dict, champion: ChampionScore | None, gate: dict, status: str, text: str) -> None:
    [check] = decide_slices([row], champion, _policy(slice_gate=gate))
    assert check.status == status, check
    assert any(text in r for r in check.reasons), check.reasons
    assert bool(check.failed) == (status == "failed")


def test_lower_is_better_slice_metric_regresses_upwards() -> None:
    policy = EvaluationConfig.model_validate(
        {"primary_metric": "log_loss", "slices": ["plan"], "slice_gate": {"max_regression": 0.05}}
    )
    row = {
        "column": "plan",
        "value": "a",
        "rows": 99,
        "metrics": {"log_loss": 0.6},
        "champion_metrics": {"log_loss": 0.5},
    }
    [check] = decide_slices([row], ChampionScore("1", {"log_loss": 0.5}), policy)
    assert check.status == "failed" and "(-0.1000, more than" in check.reasons[0]


def test_no_slice_gate_checks_nothing() -> None:
    assert decide_slices([_row("premium", 0.1, 0.9)], CHAMP, _policy()) == ()
    assert decide_promotion({"roc_auc": 0.8}, CHAMP, _policy(), slices=[_row("premium", 0.1, 0.9)]).promote


def test_promotion_better_on_average_but_worse_on_a_slice_is_rejected_and_forcible() -> None:
    policy = _policy(slice_gate={"max_regression": 0.05})
    slices = [_row("basic", 0.82, 0.74), _row("premium", 0.50, 0.74), SMALL]
    decision = decide_promotion({"roc_auc": 0.80}, CHAMP, policy, slices=slices)
    assert decision.promote is False
    assert decision.reasons[0].startswith("slice plan=premium: roc_auc 0.5000 vs champion v3 0.7400")
    assert any("1 of 3 slices passed, 1 failed, 1 skipped" in r for r in decision.reasons)
    assert any("plan=gold: skipped" in r for r in decision.reasons)
    assert [s["status"] for s in decision.to_dict()["slices"]] == ["passed", "failed", "skipped"]
    forced = decide_promotion({"roc_auc": 0.80}, CHAMP, policy, force=True, slices=slices)
    assert forced.promote and forced.forced and "plan=premium" in forced.reasons[1]


def _report(value: float | None, why: str | None = None) -> dict[str, Any]:
    return {"value": value, "why": why, "extremes": "positive_rate: lowest a 0.1000, highest b 0.3000"}


# (case, report, gate, expected status, blocks promotion, text)
FAIRNESS_CASES = [
    ("over, gated", _report(0.2), True, "failed", True, "= 0.2000 exceeds threshold 0.1"),
    ("over, reported only", _report(0.2), False, "failed", False, "reported, not gated"),
    ("within", _report(0.05), True, "passed", False, "within threshold 0.1 (positive_rate: lowest a"),
    ("at the threshold", _report(0.1), True, "passed", False, "within"),
    (
        "not computable, gated: fails closed",
        _report(None, "fewer than 2 region groups"),
        True,
        "failed",
        True,
        "could not be computed (fewer than 2 region groups)",
    ),
    ("not computable, reported", None, False, "skipped", False, "no fairness figure was computed"),
]


@pytest.mark.parametrize(
    ("report", "gate", "status", "blocks", "text"),
    [c[1:] for c in FAIRNESS_CASES],
    ids=[c[0] for c in FAIRNESS_CASES],
)
def test_fairness_check(report: dict | None, gate: bool, status: str, blocks: bool, text: str) -> None:
    cfg = FairnessConfig(sensitive="region", threshold=0.1, gate=gate)
    check = decide_fairness(report, cfg)
    assert check.status == status and text in check.reason, check
    decision = decide_promotion({"roc_auc": 0.8}, None, _policy(fairness=cfg.model_dump()), fairness=report)
    assert decision.promote is (not blocks)
    assert decision.fairness is not None and decision.fairness["status"] == status


def test_fairness_figures_per_group() -> None:
    # group a: 4 rows, 2 actual positives, predicted [1, 0, 1, 0]; group b: 4 rows, predicted all 0
    actual = [1, 1, 0, 0, 1, 0, 0, 0]
    predicted = [1, 0, 1, 0, 0, 0, 0, 0]
    groups = ["a"] * 4 + ["b"] * 4
    out = fairness_figure(actual, predicted, groups, "equalized_odds_difference", 4, "g")
    a, b = out["groups"]
    assert a == {
        "value": "a",
        "rows": 4,
        "positives": 2,
        "positive_rate": 0.5,
        "recall": 0.5,
        "false_positive_rate": 0.5,
    }
    assert b["recall"] == 0.0 and b["false_positive_rate"] == 0.0
    assert out["value"] == pytest.approx(0.5)
    pr = fairness_figure(actual, predicted, groups, "positive_rate_difference", 4, "g")
    assert (
        pr["value"] == pytest.approx(0.5)
        and pr["extremes"] == "positive_rate: lowest b 0.0000, highest a 0.5000"
    )
    small = fairness_figure(actual, predicted, groups, "recall_difference", 5, "g")
    assert (
        small["value"] is None and small["why"] == "fewer than 2 g groups with >= 5 rows and a defined recall"
    )
    assert all(g["skipped"] == "too small (< 5 rows)" for g in small["groups"])


def test_recall_undefined_without_positives() -> None:
    out = fairness_figure(
        np.array([1, 0, 0, 0]), np.array([1, 0, 0, 0]), ["a", "a", "b", "b"], "recall_difference", 2, "g"
    )
    assert out["groups"][1]["recall"] is None and out["value"] is None


DEMO_EVAL = """
    data:
      source: x.csv
      target: y
      features: {numeric: [a], categorical: [plan]}
    model: {task: %s, estimator: %s}
    evaluation:
      primary_metric: %s
"""


@pytest.mark.parametrize(
    ("task", "extra", "message"),
    [
        (
            "regression",
            "  fairness: {sensitive: plan}",
            "evaluation.fairness: fairness metrics compare positive-prediction rates, which need model.task "
            "binary_classification (this pipeline is regression); remove evaluation.fairness",
        ),
        (
            "binary_classification",
            "  slice_gate: {max_regression: 0.1}",
            "evaluation.slice_gate: needs evaluation.slices; list the columns",
        ),
        (
            "binary_classification",
            "  slices: [plan]\n      slice_gate: {metrics: [rmse]}",
            "evaluation.slice_gate: metric 'rmse' does not apply to binary_classification",
        ),
        (
            "binary_classification",
            "  fairness: {sensitive: y}",
            "evaluation.fairness.sensitive: 'y' is the target",
        ),
        (
            "binary_classification",
            "  fairness: {sensitive: plan, metric: parity}",
            "evaluation.fairness.metric: must be one of",
        ),
        (
            "binary_classification",
            "  fairness: {sensitive: plan, treshold: 0.1}",
            "evaluation.fairness.treshold: unknown key; did you mean 'threshold'?",
        ),
    ],
)
def test_gate_config_errors_name_key_and_fix(
    make_pipeline: PipelineFactory, task: str, extra: str, message: str
) -> None:
    estimator, metric = ("Ridge", "rmse") if task == "regression" else ("LogisticRegression", "roc_auc")
    text = (DEMO_EVAL % (task, estimator, metric)) + "    " + extra + "\n"
    with pytest.raises(ConfigError) as err:
        make_pipeline(text)
    assert message in str(err.value), str(err.value)


def test_sensitive_column_is_kept_in_the_snapshot(make_pipeline: PipelineFactory) -> None:
    text = (
        DEMO_EVAL % ("binary_classification", "LogisticRegression", "roc_auc")
    ) + "      fairness: {sensitive: gender}\n"
    pipe = make_pipeline(text)
    assert snapshot_columns(pipe) == ["a", "plan", "y", "gender"]
    assert pipe.config.evaluation.fairness is not None and pipe.config.evaluation.fairness.gate is False


def test_first_model_lists_only_small_slices_besides_the_summary() -> None:
    decision = decide_promotion(
        {"roc_auc": 0.8}, None, _policy(slice_gate={}), slices=[_row("basic", 0.7), SMALL]
    )
    assert decision.promote is True
    slice_lines = [r for r in decision.reasons if "slice" in r]
    assert slice_lines == [
        "slice gate (roc_auc within 0.05 of the champion): 0 of 2 slices passed, 0 failed, 2 skipped; "
        "no champion yet, so only slice floors apply",
        "slice plan=gold: skipped, 12 rows < min_slice_size 50; not gated",
    ]
