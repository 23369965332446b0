"""The pipeline YAML's schema: one Pydantic model per section, validated before any DAG exists."""

from __future__ import annotations

import difflib
import re
from datetime import date
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlcycle.config.base import _Strict
from mlcycle.config.catalogs import CLASSIFICATION_METRICS, GX_EXPECTATIONS, REGRESSION_METRICS, Metric
from mlcycle.config.data_window import LabelsConfig, WindowConfig
from mlcycle.config.estimators import CLASSIFICATION, ESTIMATORS, TaskType
from mlcycle.config.monitoring import MonitoringConfig
from mlcycle.config.rules import FallbackConfig, PostprocessConfig
from mlcycle.config.schedules import _check_schedule


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


class DataConfig(_Strict):
    source: str = Field(min_length=1)
    format: Literal["auto", "csv", "parquet"] = "auto"
    target: str = Field(min_length=1)
    features: FeaturesConfig
    timestamp_column: str | None = None
    id_column: str | None = None
    window: WindowConfig = WindowConfig()
    labels: LabelsConfig | None = None

    @model_validator(mode="after")
    def _columns_consistent(self) -> DataConfig:
        if self.target in self.features.all:
            raise ValueError(f"target {self.target!r} is also listed as a feature; remove it from features")
        if self.window.lookback_days is not None and not self.timestamp_column:
            raise ValueError("window.lookback_days needs data.timestamp_column to select rows by time")
        if self.window.path_date is not None and not self.timestamp_column:
            raise ValueError("window.path_date needs data.timestamp_column (a file is dated by its path)")
        if self.labels is not None and not self.id_column:
            raise ValueError(
                "labels: late labels are joined to scored and training rows by data.id_column; set it "
                "(data.labels.id_column names the id in the labels source when it is called otherwise)"
            )
        return self

    @property
    def labels_id(self) -> str | None:
        """The id column's name in the labels source (``data.id_column`` unless it is called otherwise)."""
        return (self.labels.id_column if self.labels else None) or self.id_column

    @property
    def labels_target(self) -> str:
        return (self.labels.target if self.labels else None) or self.target

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
    # rows of the training window whose target is null (labels not landed yet) are dropped and counted;
    # more than this share fails ingest (a broken target column, not late labels)
    max_unlabelled_share: float = Field(0.3, ge=0, le=1)
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
    "positive_rate_difference",
    "recall_difference",
    "false_positive_rate_difference",
    "equalized_odds_difference",
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
            raise ValueError(
                f"{value!r} is not a queue/pool name: use 1-100 letters, digits, '.', '_' or '-'"
            )
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
        estimable = self.model.task == "binary_classification" and mon.quality.estimate
        for key, section in (("monitoring.alert_on", mon), ("monitoring.retrain.on", mon.retrain)):
            field = key.rsplit(".", 1)[1]
            if field in section.model_fields_set and "at_risk" in getattr(section, field) and not estimable:
                raise ValueError(
                    f"{key}: 'at_risk' comes from the label-free quality estimate, which needs model.task "
                    f"binary_classification and monitoring.quality.estimate true (this pipeline: "
                    f"{self.model.task}, estimate {mon.quality.estimate}); remove 'at_risk'"
                )
        fixed = {"domain_auc_threshold", "domain_auc_margin"} <= mon.drift.model_fields_set
        if fixed and mon.drift.domain_auc_threshold is not None:
            raise ValueError(
                "monitoring.drift: domain_auc_threshold (a fixed ROC AUC) and domain_auc_margin (above the "
                "model's no-drift baseline) exclude each other; keep one"
            )
        unknown = [c for c in mon.drift.columns or [] if c not in self.data.features.all]
        if unknown:
            raise ValueError(
                f"monitoring.drift.columns: {unknown} are not features; choose from {self.data.features.all}"
            )
        return self
