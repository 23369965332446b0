"""The model card is rendered from the evidence passed in, and says what is missing or weak."""

from __future__ import annotations

from mlcycle.config.loader import Pipeline
from mlcycle.config.schema import FairnessConfig, ModelCardConfig, SliceGateConfig
from mlcycle.core.model_card import evidence_figures, render_model_card, render_model_card_html

SNAPSHOT = {
    "uri": "/snap/abc.parquet",
    "sha256": "ab" * 32,
    "rows": 8000,
    "window_start": "2025-01-01T00:00:00+00:00",
    "window_end": "2026-01-01T00:00:00+00:00",
}
CHECKS = {"success": True, "evaluated": 9, "rows": 8000, "failures": []}
EVALUATION = {
    "holdout_rows": 1600,
    "candidate": {"roc_auc": 0.7712, "f1": 0.33},
    "champion": {"version": "4", "metrics": {"roc_auc": 0.7601}, "error": None},
    "slices": [
        {"column": "plan", "value": "basic", "rows": 900, "metrics": {"roc_auc": 0.75}},
        {"column": "region", "value": "north", "rows": 12, "skipped": "too small"},
    ],
}
DECISION = {
    "verdict": "passed",
    "forced": True,
    "reasons": ["forced by the run's force_promote param despite:"],
}


def _card(pipe: Pipeline) -> str:
    return render_model_card(pipe, "5", SNAPSHOT, CHECKS, EVALUATION, DECISION, {"MLflow run": "r1"})


def test_card_has_every_section_from_the_evidence(demo_pipeline: Pipeline) -> None:
    cfg = demo_pipeline.config.model_copy(
        update={
            "model_card": ModelCardConfig(intended_use="Retention offers.", known_limitations=["No B2B."])
        }
    )
    card = _card(demo_pipeline.model_copy(update={"config": cfg}))
    assert card.startswith("# Model card: churn v5")
    assert "## Intended use\n\nRetention offers." in card
    assert f"sha256 `{'ab' * 32}`" in card and "Rows: 8000" in card and "Holdout: 1600 rows" in card
    assert "Passed: 9/9 Great Expectations expectations on 8000 rows." in card
    assert "Overall: f1=0.3300, roc_auc=0.7712" in card
    assert "| plan = basic | 900 | roc_auc=0.7500 |" in card
    assert "| region = north | 12 | too small |" in card
    assert "Champion v4 on the same holdout: roc_auc=0.7601" in card
    assert "## Gate: passed (FORCED)" in card
    assert "- MLflow run: `r1`" in card
    assert "- No B2B." in card and "Slices too small to evaluate (< 50 rows): region = north" in card


def test_card_says_when_intended_use_is_not_stated(demo_pipeline: Pipeline) -> None:
    assert "_Not stated: set `model_card.intended_use` in the pipeline YAML._" in _card(demo_pipeline)


def _gated(pipe: Pipeline) -> Pipeline:
    ev = pipe.config.evaluation.model_copy(
        update={
            "slice_gate": SliceGateConfig(max_regression=0.05),
            "fairness": FairnessConfig(
                sensitive="region", metric="recall_difference", threshold=0.1, gate=True
            ),
        }
    )
    return pipe.model_copy(update={"config": pipe.config.model_copy(update={"evaluation": ev})})


HOSTILE = "<script>alert(1)</script>[x](javascript:alert(1))|"
GATED_EVALUATION = {
    **EVALUATION,
    "slices": [
        {
            "column": "plan",
            "value": "premium",
            "rows": 300,
            "metrics": {"roc_auc": 0.61},
            "champion_metrics": {"roc_auc": 0.74},
        },
        {"column": "plan", "value": HOSTILE, "rows": 12, "skipped": "too small"},
    ],
    "fairness": {
        "sensitive": "region",
        "metric": "recall_difference",
        "value": 0.2,
        "champion_value": 0.05,
        "groups": [
            {
                "value": "west",
                "rows": 400,
                "positives": 80,
                "positive_rate": 0.2,
                "recall": 0.4,
                "false_positive_rate": 0.1,
            },
            {"value": "north", "rows": 20, "positives": 3, "skipped": "too small (< 50 rows)"},
        ],
    },
}
GATED_DECISION = {
    "verdict": "rejected",
    "reasons": [
        "slice plan=premium: roc_auc 0.6100 vs champion v4 0.7400 (-0.1300, more than the 0.05 allowed)"
    ],
    "slices": [
        {
            "column": "plan",
            "value": "premium",
            "rows": 300,
            "status": "failed",
            "reasons": [
                "slice plan=premium: roc_auc 0.6100 vs champion v4 0.7400 (-0.1300, more than the 0.05 allowed)"
            ],
        },
        {
            "column": "plan",
            "value": HOSTILE,
            "rows": 12,
            "status": "skipped",
            "reasons": [f"slice plan={HOSTILE}: skipped"],
        },
    ],
    "fairness": {
        "status": "failed",
        "gated": True,
        "reason": "fairness recall_difference across region = 0.2000 exceeds",
    },
}


def test_card_shows_slice_gate_fairness_and_champion_comparison(demo_pipeline: Pipeline) -> None:
    card = render_model_card(
        _gated(demo_pipeline), "5", SNAPSHOT, CHECKS, GATED_EVALUATION, GATED_DECISION, {}
    )
    assert "| plan = premium | 300 | roc_auc=0.6100 | roc_auc=0.7400 | failed |" in card
    assert "| roc_auc | 0.7712 | 0.7601 | +0.0111 |" in card  # champion comparison, metric by metric
    assert "- **failed** slice plan=premium: roc_auc 0.6100 vs champion v4 0.7400" in card
    assert "`recall_difference` across the values of `region` (a model feature)" in card
    assert "- Candidate: 0.2000; champion on the same holdout: 0.0500" in card
    assert "- Verdict: **failed**: fairness recall_difference across region = 0.2000 exceeds" in card
    assert "| region = west | 400 | 80 | 0.2000 | 0.4000 | 0.1000 |" in card
    assert "| region = north | 20 | 3 | too small (< 50 rows) |" in card


def test_html_card_escapes_every_data_value(demo_pipeline: Pipeline) -> None:
    card = render_model_card(
        _gated(demo_pipeline), "5", SNAPSHOT, CHECKS, GATED_EVALUATION, GATED_DECISION, {}
    )
    page = render_model_card_html(card, "Model card: <churn> v5")
    assert page.startswith("<!doctype html>") and "<title>Model card: &lt;churn&gt; v5</title>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript' not in page and "<a " not in page
    assert "<h2>Fairness</h2>" in page and "<td>region = west</td>" in page
    # the hostile value stays inside its cell: its '|' does not split the table row
    assert "<td>plan = &lt;script&gt;alert(1)&lt;/script&gt;[x](javascript:alert(1))|</td>" in page


def test_card_without_gates_says_they_are_not_configured(demo_pipeline: Pipeline) -> None:
    plain = demo_pipeline.config.evaluation.model_copy(update={"slice_gate": None, "fairness": None})
    pipe = demo_pipeline.model_copy(
        update={"config": demo_pipeline.config.model_copy(update={"evaluation": plain})}
    )
    card = _card(pipe)
    assert "Not configured: per-slice metrics are reported, not gated" in card
    assert "## Fairness\n\nNot configured" in card
    assert "| plan = basic | 900 | roc_auc=0.7500 | - | not gated |" in card


def test_card_shows_the_holdout_evidence_with_plots(demo_pipeline: Pipeline) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from mlcycle.core.evidence import holdout_evidence
    from mlcycle.core.metrics import predict_rows

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=3_000), "noise": rng.normal(size=3_000)})
    y = pd.Series((rng.uniform(size=3_000) < 1 / (1 + np.exp(-2 * X["signal"]))).astype("int64"))
    model = LogisticRegression().fit(X, y)
    evidence = holdout_evidence(demo_pipeline, model, X, y, predict_rows(demo_pipeline, model, X))
    ranked = evidence["permutation_importance"]
    assert [r["feature"] for r in ranked] == ["signal", "noise"] and ranked[0]["drop"] > 0.1 > ranked[1][
        "drop"
    ]
    assert evidence["base_rate"] == round(float(y.mean()), 4) and evidence["decision_threshold"] == 0.5
    assert 0 < evidence["brier"] < 0.25 and len(evidence["calibration_curve"]["observed"]) == 10
    # a calibrated model's curve sits near the diagonal
    cal = evidence["calibration_curve"]
    assert max(abs(a - b) for a, b in zip(cal["predicted"], cal["observed"], strict=True)) < 0.08
    assert (
        len(evidence["pr_curve"]["recall"]) <= 100 and evidence["average_precision"] > evidence["base_rate"]
    )

    evaluation = {**EVALUATION, "evidence": evidence}
    card = render_model_card(demo_pipeline, "5", SNAPSHOT, CHECKS, evaluation, DECISION, {})
    assert "## Evidence on the holdout" in card and "| signal |" in card
    assert f"Base rate (share of `1`): {evidence['base_rate']:.4f}" in card
    page = render_model_card_html(card, "Model card", evidence_figures(evaluation))
    assert page.count("<svg") == 2 and "Calibration (Brier" in page and "Precision-recall (AP" in page
    assert "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
