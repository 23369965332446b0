"""Typed pipeline configuration: one YAML file per pipeline, validated before any DAG exists.

Importing this module is cheap (PyYAML and Pydantic only): the DAG factory calls it at parse time.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlcycle.errors import ConfigError
from mlcycle.estimators import CLASSIFICATION, ESTIMATORS, TaskType
from mlcycle.safety import yaml_shape_problem

PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SCHEDULE_PRESETS = (
    "@once",
    "@continuous",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
)
# libyaml's safe loader parses a pipeline YAML ~10x faster than the pure-Python one (DAG parse time)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")

# Great Expectations 1.x core expectations that run on a pandas batch (tests keep this list honest).
GX_EXPECTATIONS = frozenset(
    {
        "expect_column_distinct_values_to_be_in_set",
        "expect_column_distinct_values_to_contain_set",
        "expect_column_distinct_values_to_equal_set",
        "expect_column_kl_divergence_to_be_less_than",
        "expect_column_max_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_median_to_be_between",
        "expect_column_min_to_be_between",
        "expect_column_most_common_value_to_be_in_set",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_pair_values_to_be_equal",
        "expect_column_pair_values_to_be_in_set",
        "expect_column_proportion_of_non_null_values_to_be_between",
        "expect_column_proportion_of_unique_values_to_be_between",
        "expect_column_quantile_values_to_be_between",
        "expect_column_stdev_to_be_between",
        "expect_column_sum_to_be_between",
        "expect_column_to_exist",
        "expect_column_unique_value_count_to_be_between",
        "expect_column_value_lengths_to_be_between",
        "expect_column_value_lengths_to_equal",
        "expect_column_value_z_scores_to_be_less_than",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_dateutil_parseable",
        "expect_column_values_to_be_decreasing",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_in_type_list",
        "expect_column_values_to_be_increasing",
        "expect_column_values_to_be_json_parseable",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_match_json_schema",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_values_to_match_strftime_format",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_not_match_regex_list",
        "expect_compound_columns_to_be_unique",
        "expect_multicolumn_sum_to_equal",
        "expect_select_column_values_to_be_unique_within_record",
        "expect_table_column_count_to_be_between",
        "expect_table_column_count_to_equal",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
    }
)

Metric = Literal["roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "rmse", "mae", "r2"]
CLASSIFICATION_METRICS: tuple[str, ...] = ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeaturesConfig(_Strict):
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_features(self) -> FeaturesConfig:
        if not self.numeric and not self.categorical:
            raise ValueError("list at least one column under numeric or categorical")
        seen: set[str] = set()
        for col in [*self.numeric, *self.categorical]:
            if col in seen:
                raise ValueError(f"column {col!r} is listed twice; list each feature once")
            seen.add(col)
        return self

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class WindowConfig(_Strict):
    """Rows used by a run: the trailing ``lookback_days`` before the run's data interval end."""

    lookback_days: int | None = Field(None, ge=1)


class DataConfig(_Strict):
    source: str = Field(min_length=1)
    format: Literal["auto", "csv", "parquet"] = "auto"
    target: str = Field(min_length=1)
    features: FeaturesConfig
    timestamp_column: str | None = None
    id_column: str | None = None
    window: WindowConfig = WindowConfig()

    @model_validator(mode="after")
    def _columns_consistent(self) -> DataConfig:
        if self.target in self.features.all:
            raise ValueError(f"target {self.target!r} is also listed as a feature; remove it from features")
        if self.window.lookback_days is not None and not self.timestamp_column:
            raise ValueError("window.lookback_days needs data.timestamp_column to select rows by time")
        return self

    @property
    def is_s3(self) -> bool:
        return self.source.startswith("s3://")


class ExpectationConfig(_Strict):
    type: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in GX_EXPECTATIONS:
            hint = difflib.get_close_matches(value, GX_EXPECTATIONS, n=1)
            extra = (
                f"; did you mean {hint[0]!r}?" if hint else "; see Great Expectations' expectation gallery"
            )
            raise ValueError(f"unknown expectation {value!r}{extra}")
        return value


class ChecksConfig(_Strict):
    min_rows: int = Field(100, ge=1)
    expectations: list[ExpectationConfig] = Field(default_factory=list)


class SplitConfig(_Strict):
    strategy: Literal["random", "time"] = "random"
    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    stratify: bool = True


class ModelConfig(_Strict):
    task: TaskType
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    split: SplitConfig = SplitConfig()

    @field_validator("estimator")
    @classmethod
    def _allowed(cls, value: str) -> str:
        if value not in ESTIMATORS:
            hint = difflib.get_close_matches(value, ESTIMATORS, n=1)
            extra = f"did you mean {hint[0]!r}? " if hint else ""
            raise ValueError(
                f"estimator {value!r} is not in the allow-list; {extra}allowed: {', '.join(sorted(ESTIMATORS))}"
            )
        return value

    @model_validator(mode="after")
    def _estimator_fits_task(self) -> ModelConfig:
        spec = ESTIMATORS[self.estimator]
        if self.task not in spec.tasks:
            fitting = sorted(n for n, s in ESTIMATORS.items() if self.task in s.tasks)
            raise ValueError(
                f"estimator {self.estimator!r} does not do {self.task}; choose one of: {', '.join(fitting)}"
            )
        return self

    @property
    def is_classification(self) -> bool:
        return self.task in CLASSIFICATION


class SliceGateConfig(_Strict):
    """Per-slice gate: no slice may regress against the champion by more than ``max_regression``
    on ``metrics`` (default: the primary metric), and each slice meets ``thresholds`` if set."""

    max_regression: float = Field(0.05, ge=0)
    metrics: list[Metric] | None = None
    thresholds: dict[Metric, float] = Field(default_factory=dict)


FairnessMetric = Literal[
    "positive_rate_difference", "recall_difference", "false_positive_rate_difference", "equalized_odds_difference"
]


class FairnessConfig(_Strict):
    """A group-fairness figure on the holdout across the values of ``sensitive`` (binary classification)."""

    sensitive: str = Field(min_length=1)
    metric: FairnessMetric = "positive_rate_difference"
    threshold: float = Field(0.1, ge=0, le=1)
    gate: bool = False


class EvaluationConfig(_Strict):
    primary_metric: Metric
    thresholds: dict[Metric, float] = Field(default_factory=dict)
    max_regression: float = Field(0.0, ge=0)
    slices: list[str] = Field(default_factory=list)
    min_slice_size: int = Field(30, ge=1)
    on_incomparable_champion: Literal["reject", "promote"] = "reject"
    slice_gate: SliceGateConfig | None = None
    fairness: FairnessConfig | None = None

    @property
    def slice_gate_metrics(self) -> list[str]:
        gate = self.slice_gate
        if gate is None:
            return []
        return list(gate.metrics or [self.primary_metric])


class NotificationsConfig(_Strict):
    events: list[Literal["failure", "drift", "promotion"]] = ["failure"]
    slack_conn_id: str | None = None
    smtp_conn_id: str = "smtp_default"
    email: list[str] = Field(default_factory=list)

    @field_validator("email")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        for v in values:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v):
                raise ValueError(f"{v!r} is not an email address")
        return values


class RegistryConfig(_Strict):
    model_name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-]+$")


class TaskPlacement(_Strict):
    """Where one kind of task runs: a Celery queue (workers started with ``-q``) and an Airflow pool."""

    queue: str | None = None
    pool: str | None = None
    pool_slots: int = Field(1, ge=1, le=128)

    @field_validator("queue", "pool")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.\-]{1,100}", value):
            raise ValueError(f"{value!r} is not a queue/pool name: use 1-100 letters, digits, '.', '_' or '-'")
        return value


class ExecutionConfig(_Strict):
    """Placement per task kind: ``heavy`` tasks load data and fit or score models, ``light`` ones decide and record."""

    heavy: TaskPlacement = TaskPlacement()
    light: TaskPlacement = TaskPlacement()


class ModelCardConfig(_Strict):
    """Text for each version's model card that no run can measure."""

    intended_use: str = ""
    known_limitations: list[str] = Field(default_factory=list)


class ShadowConfig(_Strict):
    """How a challenger in shadow is judged by the monitor DAG (``promotion.mode: shadow``)."""

    windows: int = Field(3, ge=1, le=100)
    min_labeled_windows: int = Field(1, ge=1)
    min_gain: float = 0.0

    @model_validator(mode="after")
    def _enough_windows(self) -> ShadowConfig:
        if self.min_labeled_windows > self.windows:
            raise ValueError(
                f"min_labeled_windows ({self.min_labeled_windows}) cannot exceed windows ({self.windows}); "
                "lower min_labeled_windows or raise windows"
            )
        return self


class PromotionConfig(_Strict):
    """``auto``: a model that passes the gate becomes champion. ``manual``: it becomes ``challenger``
    and waits for ``mlcycle approve`` or the ``<name>__approve`` DAG. ``shadow``: it becomes
    ``challenger``, is scored beside the champion on the next ``shadow.windows`` monitoring windows,
    and is promoted only if it beats the champion on the labeled ones."""

    mode: Literal["auto", "manual", "shadow"] = "auto"
    shadow: ShadowConfig | None = None

    @model_validator(mode="after")
    def _shadow_block(self) -> PromotionConfig:
        if self.shadow is not None and self.mode != "shadow":
            raise ValueError(
                f"shadow: only used with mode: shadow (mode is {self.mode!r}); set mode: shadow or remove shadow"
            )
        return self

    @property
    def shadow_policy(self) -> ShadowConfig:
        return self.shadow or ShadowConfig()


Scalar = bool | int | float | str
ORDERING_OPS = ("lt", "le", "gt", "ge")
CONDITION_OPS = (*ORDERING_OPS, "eq", "ne", "in", "is_null")


class Condition(_Strict):
    """One test on a column: ``{column: monthly_charges, op: lt, value: 0}``; null values fail every
    op but ``is_null``."""

    column: str = Field(min_length=1)
    op: Literal["lt", "le", "gt", "ge", "eq", "ne", "in", "is_null"]
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if self.op == "is_null":
            if self.value is not None:
                raise ValueError("op 'is_null' takes no value; remove value")
        elif self.op == "in":
            if not isinstance(self.value, list) or not self.value:
                raise ValueError("op 'in' needs a non-empty list: value: [a, b]")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a single value (a list only goes with op 'in')")
        return self

    def values(self) -> list[Scalar]:
        if self.value is None:
            return []
        return list(self.value) if isinstance(self.value, list) else [self.value]


class Rule(_Strict):
    """``when`` every condition holds, the output is ``then``."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    when: list[Condition] = Field(min_length=1)
    then: Scalar


class FallbackConfig(_Strict):
    """The heuristic scoring uses when the champion cannot be loaded or fails its health check.

    ``majority`` (classification) and ``mean`` (regression) are fitted on the training split;
    ``rules`` predicts the ``then`` of the first matching rule, else ``default``.
    """

    kind: Literal["majority", "mean", "rules"] | None = None  # default: majority or mean by task
    rules: list[Rule] = Field(default_factory=list)
    default: Scalar | None = None

    @model_validator(mode="after")
    def _rules_fit_kind(self) -> FallbackConfig:
        if self.kind == "rules" and (not self.rules or self.default is None):
            raise ValueError("kind 'rules' needs rules (at least one) and default (the prediction when none match)")
        if self.kind != "rules" and (self.rules or self.default is not None):
            raise ValueError("rules and default only go with kind: rules")
        return self


class PostprocessConfig(_Strict):
    """Rules applied after the model, in order: the first whose ``when`` holds sets the prediction
    to its ``then``; stored with each registered version and applied as stored."""

    rules: list[Rule] = Field(default_factory=list)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rule_problems(key: str, rules: list[Rule], features: FeaturesConfig, numeric_then: bool) -> list[str]:
    """Conditions checked against the configured feature columns and their kinds."""
    out = []
    for i, rule in enumerate(rules):
        if numeric_then and not _is_number(rule.then):
            out.append(f"{key}.{i}.then: {rule.then!r} is not a number; a regression model predicts numbers")
        for j, cond in enumerate(rule.when):
            where = f"{key}.{i}.when.{j}"
            if cond.column in features.numeric:
                bad = [v for v in cond.values() if not _is_number(v)]
                if bad:
                    out.append(f"{where}.value: {bad[0]!r} is not a number; {cond.column!r} is a numeric feature")
            elif cond.column in features.categorical:
                if cond.op in ORDERING_OPS:
                    out.append(
                        f"{where}.op: {cond.op!r} needs a numeric column; {cond.column!r} is categorical "
                        "(use eq, ne, in or is_null)"
                    )
                bad = [v for v in cond.values() if not isinstance(v, str)]
                if bad:
                    out.append(
                        f"{where}.value: {bad[0]!r} is not a string; {cond.column!r} is categorical, "
                        f"quote the value: '{bad[0]}'"
                    )
            else:
                hint = difflib.get_close_matches(cond.column, features.all, n=1)
                extra = f"did you mean {hint[0]!r}? " if hint else ""
                out.append(
                    f"{where}.column: {cond.column!r} is not a feature; {extra}choose from {features.all}"
                )
    return out


SCHEDULE_CRON = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}


def _check_schedule(value: str | None) -> str | None:
    if value is None or value in SCHEDULE_PRESETS:
        return value
    fields = value.split()
    if len(fields) not in (5, 6) or not all(CRON_FIELD.match(f) for f in fields):
        raise ValueError(
            f"{value!r} is neither a cron expression (5 fields) nor a preset ({', '.join(SCHEDULE_PRESETS)})"
        )
    return value


class DriftConfig(_Strict):
    """How drift is measured; thresholds follow Evidently's defaults unless set."""

    columns: list[str] | None = None
    column_threshold: float | None = Field(None, gt=0)
    share_threshold: float = Field(0.5, gt=0, le=1)
    prediction_drift: bool = True
    domain_classifier: bool = True
    domain_auc_threshold: float = Field(0.6, gt=0.5, le=1)
    domain_sample_rows: int = Field(10_000, ge=200)
    report_sample_rows: int = Field(20_000, ge=1_001)
    # the model's outputs on the training rows are profiled on a seeded sample this large: a full
    # pass costs as much as the fit's own predictions at 10M rows, for no gain in a 2001-cell profile
    prediction_reference_rows: int = Field(200_000, ge=1_001)
    seed: int = 0


class QualityConfig(_Strict):
    """Model quality on windows whose labels have arrived."""

    label_column: str | None = None
    max_drop: float = Field(0.05, ge=0)
    min_labelled_rows: int = Field(200, ge=1)


RetrainOn = Literal["drift", "degraded"]
RETRAIN_ON: tuple[RetrainOn, ...] = ("drift", "degraded")


class RetrainConfig(_Strict):
    """When drift triggers the training DAG, and the guard that keeps it from storming."""

    enabled: bool = False
    on: list[RetrainOn] = Field(default_factory=lambda: list(RETRAIN_ON))
    cooldown_hours: float = Field(24.0 * 7, ge=0)
    min_drifted_windows: int = Field(1, ge=1)
    of_last_windows: int = Field(1, ge=1)
    on_backfill: bool = False

    @model_validator(mode="after")
    def _n_of_m(self) -> RetrainConfig:
        if self.min_drifted_windows > self.of_last_windows:
            raise ValueError(
                f"min_drifted_windows ({self.min_drifted_windows}) cannot exceed of_last_windows "
                f"({self.of_last_windows})"
            )
        return self


class MonitoringConfig(_Strict):
    """The ``<name>__monitor`` DAG: production data per data interval, scored and checked for drift."""

    enabled: bool | None = None  # default: on when windows can be cut (a timestamp or partitioned source)
    schedule: str = "@daily"
    start_date: date | None = None
    catchup: bool = False
    source: str | None = None
    format: Literal["auto", "csv", "parquet"] | None = None
    timestamp_column: str | None = None
    on_empty: Literal["skip", "fail"] = "skip"
    min_rows: int = Field(100, ge=1)
    drift: DriftConfig = DriftConfig()
    quality: QualityConfig = QualityConfig()
    retrain: RetrainConfig = RetrainConfig()

    @field_validator("schedule")
    @classmethod
    def _interval_schedule(cls, value: str) -> str:
        if value in ("@once", "@continuous"):
            raise ValueError(f"{value!r} has no data intervals; use a cron expression or @hourly..@yearly")
        _check_schedule(value)
        return value

    @property
    def cron(self) -> str:
        return SCHEDULE_CRON.get(self.schedule, self.schedule)


class PipelineConfig(_Strict):
    """One pipeline, as written in ``config/pipelines/<name>.yaml``."""

    description: str = ""
    owner: str = "mlcycle"
    tags: list[str] = Field(default_factory=list)
    schedule: str | None = None
    start_date: date = date(2025, 1, 1)
    catchup: bool = False
    retries: int = Field(1, ge=0, le=10)
    retry_delay_minutes: float = Field(5, ge=0)
    data: DataConfig
    checks: ChecksConfig = ChecksConfig()
    model: ModelConfig
    evaluation: EvaluationConfig
    notifications: NotificationsConfig = NotificationsConfig()
    registry: RegistryConfig = RegistryConfig()
    promotion: PromotionConfig = PromotionConfig()
    model_card: ModelCardConfig = ModelCardConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    execution: ExecutionConfig = ExecutionConfig()
    fallback: FallbackConfig = FallbackConfig()
    postprocess: PostprocessConfig = PostprocessConfig()

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return _check_schedule(value)

    @property
    def monitoring_possible(self) -> bool:
        mon = self.monitoring
        return bool(mon.timestamp_column or self.data.timestamp_column or "{" in (mon.source or ""))

    @property
    def monitoring_enabled(self) -> bool:
        return self.monitoring.enabled is not False and self.monitoring_possible

    @property
    def fallback_kind(self) -> str:
        return self.fallback.kind or ("majority" if self.model.is_classification else "mean")

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        allowed = CLASSIFICATION_METRICS if self.model.is_classification else REGRESSION_METRICS
        ev = self.evaluation
        gate = ev.slice_gate
        for key, metrics in (
            ("evaluation", [ev.primary_metric, *ev.thresholds]),
            ("evaluation.slice_gate", [*(gate.metrics or []), *gate.thresholds] if gate else []),
        ):
            for metric in metrics:
                if metric not in allowed:
                    raise ValueError(
                        f"{key}: metric {metric!r} does not apply to {self.model.task}; "
                        f"use one of: {', '.join(allowed)}"
                    )
        if gate is not None and not ev.slices:
            raise ValueError(
                "evaluation.slice_gate: needs evaluation.slices; list the columns whose values are gated, "
                "or remove slice_gate"
            )
        if ev.fairness is not None:
            if self.model.task != "binary_classification":
                raise ValueError(
                    f"evaluation.fairness: fairness metrics compare positive-prediction rates, which need "
                    f"model.task binary_classification (this pipeline is {self.model.task}); "
                    "remove evaluation.fairness"
                )
            if ev.fairness.sensitive == self.data.target:
                raise ValueError(
                    f"evaluation.fairness.sensitive: {ev.fairness.sensitive!r} is the target; "
                    "name the column holding the sensitive attribute"
                )
        if self.model.split.strategy == "time" and not self.data.timestamp_column:
            raise ValueError("model.split.strategy 'time' needs data.timestamp_column")
        mon = self.monitoring
        if mon.enabled and not self.monitoring_possible:
            raise ValueError(
                "monitoring: windows need monitoring.timestamp_column (or data.timestamp_column), or a "
                "time-partitioned monitoring.source such as 's3://bucket/preds/dt={date:%Y-%m-%d}/'; "
                "or set monitoring.enabled: false"
            )
        if self.promotion.mode == "shadow" and not self.monitoring_enabled:
            raise ValueError(
                "promotion.mode: shadow scores the challenger in the monitor DAG, which is off here; "
                "enable monitoring (set data.timestamp_column or monitoring.timestamp_column, and leave "
                "monitoring.enabled on) or use mode: manual"
            )
        unknown = [c for c in mon.drift.columns or [] if c not in self.data.features.all]
        if unknown:
            raise ValueError(
                f"monitoring.drift.columns: {unknown} are not features; choose from {self.data.features.all}"
            )
        return self


class Pipeline(BaseModel):
    """A validated pipeline: its name (the file stem), where it came from, and its config."""

    model_config = ConfigDict(frozen=True)

    name: str
    path: str
    config: PipelineConfig
    config_sha256: str
    source_text: str

    @property
    def model_name(self) -> str:
        return self.config.registry.model_name or self.name

    @property
    def train_dag_id(self) -> str:
        return f"{self.name}__train"

    @property
    def monitor_dag_id(self) -> str:
        return f"{self.name}__monitor"

    @property
    def rollback_dag_id(self) -> str:
        return f"{self.name}__rollback"

    @property
    def approve_dag_id(self) -> str:
        return f"{self.name}__approve"

    def data_columns(self) -> list[str]:
        """Every column a snapshot keeps: features, target, timestamp, id, slices and the sensitive one."""
        data = self.config.data
        wanted = [*data.features.all, data.target, data.timestamp_column, data.id_column]
        wanted += self.config.evaluation.slices
        if self.config.evaluation.fairness is not None:
            wanted.append(self.config.evaluation.fairness.sensitive)
        out: list[str] = []
        for col in wanted:
            if col and col not in out:
                out.append(col)
        return out


def _suggest(word: str, choices: list[str]) -> list[str]:
    """Closest choice, case-insensitively ('c' suggests 'C')."""
    by_lower = {c.lower(): c for c in choices}
    return [by_lower[m] for m in difflib.get_close_matches(word.lower(), list(by_lower), n=1)]


def _describe(err: Any, allowed_keys: list[str] | None) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        hint = _suggest(key, allowed_keys or [])
        msg = "unknown key"
        if hint:
            msg += f"; did you mean {hint[0]!r}?"
        if allowed_keys:
            msg += f" (allowed: {', '.join(allowed_keys)})"
        return msg
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {err.get('input')!r}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg'].lower()} (got {err.get('input')!r})"


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the model that owns ``loc[:-1]``, for 'did you mean' hints."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        current = None
        for candidate in (ann, *getattr(ann, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                current = candidate
    return sorted(current.model_fields) if current is not None else None


def _problems(exc: ValidationError, model: type[BaseModel], prefix: tuple[Any, ...] = ()) -> list[str]:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        full = (*prefix, *loc)
        key = ".".join(str(p) for p in full) or "(top level)"
        out.append(f"{key}: {_describe(err, _allowed_keys(model, loc))}")
    return out


def _param_problems(cfg: PipelineConfig) -> list[str]:
    spec = ESTIMATORS[cfg.model.estimator]
    try:
        spec.params.model_validate(cfg.model.params)
    except ValidationError as exc:
        return _problems(exc, spec.params, ("model", "params"))
    return []


def _all_rule_problems(cfg: PipelineConfig) -> list[str]:
    """Fallback and postprocess rules checked against the task and the configured features."""
    features, regression = cfg.data.features, not cfg.model.is_classification
    out = []
    kind = cfg.fallback.kind
    if kind in ("majority", "mean") and (kind == "mean") != regression:
        fits = "mean" if regression else "majority"
        out.append(f"fallback.kind: {kind!r} does not apply to {cfg.model.task}; use {fits!r} or 'rules'")
    out += _rule_problems("fallback.rules", cfg.fallback.rules, features, regression)
    seen: set[str] = set()
    for i, rule in enumerate(cfg.postprocess.rules):
        if not rule.name:
            out.append(f"postprocess.rules.{i}.name: is required (it is written next to each prediction it changed)")
        elif rule.name in seen:
            out.append(f"postprocess.rules.{i}.name: {rule.name!r} is used twice; names must be unique")
        seen.add(rule.name or "")
    if regression and cfg.fallback.default is not None and not _is_number(cfg.fallback.default):
        out.append(f"fallback.default: {cfg.fallback.default!r} is not a number; a regression model predicts numbers")
    return out + _rule_problems("postprocess.rules", cfg.postprocess.rules, features, regression)


def _path_problems(cfg: PipelineConfig) -> list[str]:
    """Sources that escape the data root or ``$MLCYCLE_ALLOWED_SOURCES`` (text only, no I/O)."""
    from mlcycle.safety import allowed_sources, source_problem

    data_root = Path(os.environ.get("MLCYCLE_DATA_ROOT") or project_root())
    roots = allowed_sources()
    out = []
    for key, source in (("data.source", cfg.data.source), ("monitoring.source", cfg.monitoring.source)):
        problem = source_problem(source, data_root, roots) if source else None
        if problem:
            out.append(f"{key}: {source!r} {problem}")
    return out


def parse_pipeline(text: str, path: str, name: str | None = None) -> Pipeline:
    """Validate one pipeline's YAML text; raise ConfigError naming ``path`` and each dotted key."""
    name = name if name is not None else Path(path).stem
    if not PIPELINE_NAME.match(name):
        raise ConfigError(
            path, [f"file name {name!r}: use lowercase letters, digits and '_' (it becomes the DAG id)"]
        )
    try:
        shape = yaml_shape_problem(text, SAFE_LOADER)
        if shape:
            raise ConfigError(path, [f"not valid YAML: {shape}"])
        raw = yaml.load(text, Loader=SAFE_LOADER)  # nosec B506  # SAFE_LOADER is yaml's (C)SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML (only plain YAML is accepted, no tags): {exc}"]) from exc
    except RecursionError as exc:
        raise ConfigError(path, ["not valid YAML: nested too deeply; flatten the file"]) from exc
    except ValueError as exc:  # PyYAML builds dates and ints itself: '2025-02-30', 5000-digit numbers
        raise ConfigError(path, [f"not valid YAML: a value cannot be read ({exc}); quote it or fix it"]) from exc
    if not isinstance(raw, dict):
        raise ConfigError(path, ["the file must hold a mapping with keys data, model, evaluation, ..."])
    try:
        cfg = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, _problems(exc, PipelineConfig)) from exc
    except RecursionError as exc:
        raise ConfigError(path, ["a value is nested too deeply; flatten the file"]) from exc
    params = _param_problems(cfg) + _path_problems(cfg) + _all_rule_problems(cfg)
    if params:
        raise ConfigError(path, params)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Pipeline(name=name, path=path, config=cfg, config_sha256=digest, source_text=text)


def load_pipeline(path: str | os.PathLike[str]) -> Pipeline:
    """Read and validate one pipeline YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read the file: {exc.strerror or exc}"]) from exc
    return parse_pipeline(text, str(p))


def config_dir() -> Path:
    """The pipeline directory: ``$MLCYCLE_CONFIG_DIR`` or ``config/pipelines`` of this project."""
    env = os.environ.get("MLCYCLE_CONFIG_DIR")
    if env:
        return Path(env)
    return project_root() / "config" / "pipelines"


def project_root() -> Path:
    """The project directory: ``$MLCYCLE_PROJECT_ROOT``, else the checkout holding this package."""
    env = os.environ.get("MLCYCLE_PROJECT_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "config").is_dir():
            return parent
    return Path.cwd()


def pipeline_files(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    d = Path(directory) if directory is not None else config_dir()
    return sorted([*d.glob("*.yaml"), *d.glob("*.yml")])


def load_all(directory: str | os.PathLike[str] | None = None) -> tuple[list[Pipeline], list[ConfigError]]:
    """Load every pipeline in ``directory``; return the valid ones and the errors of the rest."""
    good: list[Pipeline] = []
    bad: list[ConfigError] = []
    names: dict[str, str] = {}
    for path in pipeline_files(directory):
        try:
            pipe = load_pipeline(path)
        except ConfigError as exc:
            bad.append(exc)
            continue
        if pipe.name in names:
            bad.append(
                ConfigError(str(path), [f"pipeline name {pipe.name!r} also used by {names[pipe.name]}"])
            )
            continue
        names[pipe.name] = str(path)
        good.append(pipe)
    return good, bad


def find_pipeline(name: str, directory: str | os.PathLike[str] | None = None) -> Pipeline:
    for path in pipeline_files(directory):
        if path.stem == name:
            return load_pipeline(path)
    d = Path(directory) if directory is not None else config_dir()
    known = [p.stem for p in pipeline_files(d)]
    raise ConfigError(str(d), [f"no pipeline named {name!r}; known: {', '.join(known) or 'none'}"])
