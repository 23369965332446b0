"""The ``monitoring`` section: windows, drift, quality and the retrain guard."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlcycle.config.base import _Strict
from mlcycle.config.schedules import SCHEDULE_CRON, _check_schedule


class DriftConfig(_Strict):
    """How drift is measured; thresholds follow Evidently's defaults unless set."""

    columns: list[str] | None = None
    column_threshold: float | None = Field(None, gt=0)
    share_threshold: float = Field(0.5, gt=0, le=1)
    prediction_drift: bool = True
    domain_classifier: bool = True
    # null: the model's no-drift baseline (two random halves of its reference) plus domain_auc_margin;
    # a number: that fixed ROC AUC (also what models trained before baselines were stored fall back to)
    domain_auc_threshold: float | None = Field(None, gt=0.5, le=1)
    domain_auc_margin: float = Field(0.05, gt=0, lt=0.5)
    domain_sample_rows: int = Field(10_000, ge=200)
    report_sample_rows: int = Field(20_000, ge=1_001)
    # the model's outputs on the training rows are profiled on a seeded sample this large: a full pass
    # over a large snapshot costs as much as the fit's own predictions, for no gain in the profile
    prediction_reference_rows: int = Field(200_000, ge=1_001)
    seed: int = 0


class QualityConfig(_Strict):
    """Model quality on windows whose labels have arrived."""

    label_column: str | None = None
    max_drop: float = Field(0.05, ge=0)
    min_labelled_rows: int = Field(200, ge=1)
    estimate: bool = True  # label-free estimate (CBPE) for binary classifiers when labels are absent


FIXED_DOMAIN_AUC = 0.6  # the domain classifier's threshold for a model with no stored baseline


Severity = Literal["drift", "at_risk", "degraded"]

ACTS_ON: tuple[Severity, ...] = ("at_risk", "degraded")  # by default drift alone is recorded, not acted on


class RetrainConfig(_Strict):
    """When drift triggers the training DAG, and the guard that keeps it from storming."""

    enabled: bool = False
    on: list[Severity] = Field(default_factory=lambda: list(ACTS_ON))
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
    alert_on: list[Severity] = Field(default_factory=lambda: list(ACTS_ON))
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
