"""The model card is rendered from the evidence passed in, and says what is missing or weak."""

from __future__ import annotations

from mlcycle.config import ModelCardConfig, Pipeline
from mlcycle.model_card import render_model_card

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
DECISION = {"verdict": "passed", "forced": True, "reasons": ["forced by the run's force_promote param despite:"]}


def _card(pipe: Pipeline) -> str:
    return render_model_card(pipe, "5", SNAPSHOT, CHECKS, EVALUATION, DECISION, {"MLflow run": "r1"})


def test_card_has_every_section_from_the_evidence(demo_pipeline: Pipeline) -> None:
    cfg = demo_pipeline.config.model_copy(
        update={"model_card": ModelCardConfig(intended_use="Retention offers.", known_limitations=["No B2B."])}
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
