"""Valid and invalid pipeline YAML: the error names the file, the dotted key and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlcycle.config.catalogs import GX_EXPECTATIONS
from mlcycle.config.loader import load_all, load_pipeline, parse_pipeline
from mlcycle.core.features import snapshot_columns
from mlcycle.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "config" / "pipelines" / "churn.yaml"

MINIMAL = """
data:
  source: data/x.csv
  target: y
  features: {numeric: [a, b], categorical: [c]}
model:
  task: binary_classification
  estimator: LogisticRegression
evaluation:
  primary_metric: roc_auc
"""


def _error(text: str, path: str = "config/pipelines/churn.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_pipeline(textwrap.dedent(text), path)
    return str(info.value)


def test_demo_pipeline_is_valid() -> None:
    pipe = load_pipeline(DEMO)
    assert pipe.name == "churn"
    assert pipe.train_dag_id == "churn__train"
    assert pipe.config.model.estimator == "HistGradientBoostingClassifier"
    assert pipe.config.data.window.lookback_days == 365
    assert len(pipe.config_sha256) == 64
    assert snapshot_columns(pipe)[:3] == ["tenure_months", "monthly_charges", "total_charges"]


def test_minimal_pipeline_gets_defaults() -> None:
    pipe = parse_pipeline(MINIMAL, "config/pipelines/tiny.yaml")
    assert pipe.config.checks.min_rows == 100
    assert pipe.config.notifications.events == ["failure"]
    assert pipe.config.model.split.strategy == "random"
    assert pipe.model_name == "tiny"


def test_param_below_minimum_names_file_and_dotted_key() -> None:
    text = MINIMAL.replace("LogisticRegression", "RandomForestClassifier") + "\n"
    text = text.replace(
        "  estimator: RandomForestClassifier", "  estimator: RandomForestClassifier\n  params: {max_depth: 0}"
    )
    assert _error(text) == "config/pipelines/churn.yaml: model.params.max_depth: must be >= 1"


def test_unknown_param_is_rejected_with_suggestion() -> None:
    text = MINIMAL.replace(
        "  estimator: LogisticRegression", "  estimator: LogisticRegression\n  params: {c: 2.0}"
    )
    msg = _error(text)
    assert "model.params.c: unknown key; did you mean 'C'?" in msg


def test_unknown_top_level_key_suggests_the_right_one() -> None:
    msg = _error(MINIMAL + "evaluaton: {}\n")
    assert "config/pipelines/churn.yaml: evaluaton: unknown key; did you mean 'evaluation'?" in msg


def test_estimator_outside_allow_list() -> None:
    msg = _error(MINIMAL.replace("LogisticRegression", "os.system"))
    assert "model.estimator: estimator 'os.system' is not in the allow-list" in msg
    assert "HistGradientBoostingClassifier" in msg


def test_estimator_must_fit_task() -> None:
    msg = _error(MINIMAL.replace("LogisticRegression", "Ridge"))
    assert "model: estimator 'Ridge' does not do binary_classification" in msg


def test_python_object_tag_is_refused() -> None:
    msg = _error("!!python/object/apply:os.system ['echo pwned']\n")
    assert "not valid YAML" in msg


def test_unknown_expectation_suggests_gx_name() -> None:
    text = (
        MINIMAL
        + "checks:\n  expectations:\n    - type: expect_column_values_to_not_be_nul\n      kwargs: {column: a}\n"
    )
    msg = _error(text)
    assert "checks.expectations.0.type: unknown expectation" in msg
    assert "did you mean 'expect_column_values_to_not_be_null'" in msg


def test_metric_must_match_task() -> None:
    msg = _error(MINIMAL.replace("roc_auc", "rmse"))
    assert "metric 'rmse' does not apply to binary_classification" in msg


def test_window_needs_timestamp() -> None:
    text = MINIMAL.replace("  target: y", "  target: y\n  window: {lookback_days: 30}")
    assert "window.lookback_days needs data.timestamp_column" in _error(text)


def test_missing_required_section() -> None:
    msg = _error("data:\n  source: a.csv\n  target: y\n  features: {numeric: [a]}\n")
    assert "config/pipelines/churn.yaml: model: is required but missing" in msg
    assert "config/pipelines/churn.yaml: evaluation: is required but missing" in msg


def test_bad_schedule() -> None:
    msg = _error(MINIMAL + "schedule: every tuesday\n")
    assert "schedule: 'every tuesday' is neither a cron expression" in msg


def test_file_name_must_be_a_dag_id() -> None:
    msg = _error(MINIMAL, path="config/pipelines/My Pipeline.yaml")
    assert "use lowercase letters" in msg


def test_invalid_fixture_files(tmp_path: Path) -> None:
    fixtures = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))
    assert fixtures, "the invalid/ fixtures are missing"
    for fixture in fixtures:
        expected = fixture.with_suffix(".expected").read_text().strip()
        with pytest.raises(ConfigError) as info:
            load_pipeline(fixture)
        assert expected in str(info.value), fixture.name
        assert str(info.value).startswith(str(fixture))


def test_load_all_splits_good_and_bad(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(MINIMAL)
    (tmp_path / "bad.yaml").write_text(MINIMAL.replace("roc_auc", "nope"))
    good, bad = load_all(tmp_path)
    assert [p.name for p in good] == ["good"]
    assert len(bad) == 1 and str(bad[0]).startswith(str(tmp_path / "bad.yaml"))


def test_expectation_list_matches_great_expectations() -> None:
    from great_expectations.expectations.registry import get_expectation_impl

    for name in sorted(GX_EXPECTATIONS):
        assert get_expectation_impl(name).__name__.startswith("Expect"), name


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "postprocess: {rules: [{name: r, when: [{column: c, op: lt, value: 1}], then: x}]}",
            "postprocess.rules.0.when.0.op: 'lt' needs a numeric column; 'c' is categorical",
        ),
        (
            "postprocess: {rules: [{name: r, when: [{column: a, op: in, value: 3}], then: x}]}",
            "postprocess.rules.0.when.0: op 'in' needs a non-empty list",
        ),
        (
            "postprocess: {rules: [{name: r, when: [{column: a, op: is_null, value: 3}], then: x}]}",
            "postprocess.rules.0.when.0: op 'is_null' takes no value",
        ),
        (
            "postprocess: {rules: [{name: r, when: [{column: a, op: matches, value: 3}], then: x}]}",
            "postprocess.rules.0.when.0.op: must be one of",
        ),
        (
            "postprocess: {rules: [{when: [{column: a, op: gt, value: 3}], then: x}]}",
            "postprocess.rules.0.name: is required",
        ),
        (
            "postprocess: {rules: [{name: r, when: [{column: c, op: eq, value: 1}], then: x}]}",
            "postprocess.rules.0.when.0.value: 1 is not a string; 'c' is categorical, quote the value: '1'",
        ),
        ("fallback: {kind: rules}", "fallback: kind 'rules' needs rules (at least one) and default"),
        ("fallback: {kind: majority, default: 1}", "fallback: rules and default only go with kind: rules"),
        (
            "fallback: {kind: rules, rules: [{when: [], then: 1}], default: 0}",
            "fallback.rules.0.when: list should have at least 1 item",
        ),
    ],
)
def test_rule_and_fallback_errors_name_the_key(section: str, expected: str) -> None:
    assert expected in _error(MINIMAL + section + "\n")


def test_rules_and_fallback_parse() -> None:
    text = MINIMAL + (
        "fallback: {kind: rules, rules: [{when: [{column: a, op: lt, value: 0}], then: 1}], default: 0}\n"
        "postprocess: {rules: [{name: neg, when: [{column: c, op: in, value: [x, y]}, {column: b, op: is_null}], "
        "then: review}]}\n"
    )
    cfg = parse_pipeline(text, "config/pipelines/t.yaml").config
    assert cfg.fallback_kind == "rules" and cfg.postprocess.rules[0].when[1].op == "is_null"
    assert parse_pipeline(MINIMAL, "config/pipelines/t.yaml").config.fallback_kind == "majority"


def test_shadow_promotion_config() -> None:
    shadow = "promotion: {mode: shadow, shadow: {windows: 4, min_labeled_windows: 2, min_gain: 0.01}}\n"
    stamped = MINIMAL.replace("data:\n", "data:\n  timestamp_column: ts\n", 1)
    pipe = parse_pipeline(stamped + shadow, "config/pipelines/tiny.yaml")
    assert pipe.config.promotion.shadow_policy.windows == 4
    assert (
        parse_pipeline(
            stamped + "promotion: {mode: shadow}\n", "x.yaml"
        ).config.promotion.shadow_policy.windows
        == 3
    )

    err = _error(stamped + "promotion: {mode: shadow, shadow: {windows: 2, min_labeled_windows: 3}}\n")
    assert "promotion.shadow: " in err and "min_labeled_windows (3) cannot exceed windows (2)" in err
    err = _error(stamped + "promotion: {mode: manual, shadow: {windows: 2}}\n")
    assert "promotion: " in err and "set mode: shadow or remove shadow" in err
    err = _error(stamped + "promotion: {mode: shadow, shadow: {window: 2}}\n")
    assert "promotion.shadow.window" in err and "windows" in err
    # no timestamp column: no monitor DAG to run the shadow in
    err = _error(MINIMAL + "promotion: {mode: shadow}\n")
    assert "promotion.mode: shadow" in err and "set data.timestamp_column" in err


def test_monitoring_severities_defaults_and_opt_in() -> None:
    mon = parse_pipeline(MINIMAL, "config/pipelines/tiny.yaml").config.monitoring
    assert mon.alert_on == ["at_risk", "degraded"] and mon.retrain.on == ["at_risk", "degraded"]
    assert mon.quality.estimate is True
    assert (mon.drift.domain_auc_threshold, mon.drift.domain_auc_margin) == (None, 0.05)
    text = MINIMAL + textwrap.dedent(
        """
        monitoring:
          alert_on: [drift, at_risk, degraded]
          drift: {domain_auc_threshold: 0.7}
          retrain: {enabled: true, "on": [drift, degraded]}
        """
    )
    mon = parse_pipeline(text, "config/pipelines/tiny.yaml").config.monitoring
    assert mon.alert_on == ["drift", "at_risk", "degraded"] and mon.retrain.on == ["drift", "degraded"]
    assert mon.drift.domain_auc_threshold == 0.7


def test_at_risk_needs_an_estimate() -> None:
    text = MINIMAL + "monitoring:\n  quality: {estimate: false}\n  alert_on: [at_risk]\n"
    assert _error(text).endswith(
        "monitoring.alert_on: 'at_risk' comes from the label-free quality estimate, which needs model.task "
        "binary_classification and monitoring.quality.estimate true (this pipeline: binary_classification, "
        "estimate False); remove 'at_risk'"
    )
    # the default lists name at_risk too; they are not an error where nothing is estimated
    assert parse_pipeline(MINIMAL + "monitoring:\n  quality: {estimate: false}\n", "config/pipelines/t.yaml")
