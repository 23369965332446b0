"""The records steps hand each other: frozen, typed, serialised only at the Airflow boundary.

A step returns one of these; the DAG factory turns it into XCom with ``to_xcom`` and the next task
rebuilds it with ``from_xcom``. ``NAME`` is the file the step publishes it as under
``runs/<dag_id>/<run>/`` in the artifact store (``core.names.Record``). Keys a step sets only on some
paths (``Promotion.replaced``) are left out of the serialised form when unset, so XCom and the
published JSON hold what the step said and nothing it did not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict

from mlcycle.core.decisions.promotion import ChampionScore
from mlcycle.core.names import Record


class StepRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    NAME: ClassVar[str]

    def to_xcom(self) -> dict[str, Any]:
        """The JSON-safe form: what XCom carries and what the step publishes."""
        return self.model_dump(mode="json", exclude_unset=True)

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any] | Self) -> Self:
        return data if isinstance(data, cls) else cls.model_validate(data)


# --- the training DAG ---------------------------------------------------------------------------


class Snapshot(StepRecord):
    """What ingest produced: a content-addressed Parquet snapshot of the run's window."""

    NAME = Record.INGEST

    uri: str
    key: str
    sha256: str
    rows: int
    columns: dict[str, str]
    window_start: str | None
    window_end: str
    source: str
    source_files: int
    # sha256 of every source file read, by path or s3:// URI (the OpenLineage input datasets)
    source_digests: dict[str, str] | None = None
    # files not opened: outside the window by data.window.path_date or Parquet statistics
    source_files_skipped: int = 0
    # rows dropped for a null target (labels not landed yet), and targets filled from data.labels
    unlabelled_dropped: int = 0
    labels_filled: int = 0


class DataChecks(StepRecord):
    """The suite passed on the snapshot (a failing suite fails its task instead)."""

    success: bool
    summary: str
    report_uri: str  # the full Great Expectations result, published as Record.DATA_CHECKS
    result: dict[str, Any]  # success, evaluated, rows, failures


class TrainResult(StepRecord):
    run_id: str
    model_uri: str
    experiment_id: str
    train_rows: int
    test_rows: int
    # checksums of the model files, the fallback and the postprocess rules, tagged on the version
    registration_tags: dict[str, str]


class Evaluation(StepRecord):
    """The candidate and the champion on the same holdout, per slice, and the fairness figure."""

    NAME = Record.EVALUATION

    holdout_rows: int
    candidate: dict[str, float | None]
    champion: ChampionScore | None
    slices: list[dict[str, Any]]
    fairness: dict[str, Any] | None
    primary_metric: str
    evidence: dict[str, Any] | None = None  # core.evidence.holdout_evidence: importance, calibration, PR
    evaluation_uri: str | None = None


class GateDecision(StepRecord):
    """The validation gate's verdict on the candidate."""

    NAME = Record.DECISION

    promote: bool
    reasons: list[str]
    champion_version: str | None
    forced: bool
    slices: list[dict[str, Any]]
    fairness: dict[str, Any] | None
    verdict: Literal["passed", "rejected"]
    decision_uri: str | None = None


class Promotion(StepRecord):
    """The registered version and what happened to the aliases."""

    NAME = Record.PROMOTION

    model_name: str
    version: str
    verdict: str
    model_card: str
    promoted: bool
    why: str
    champion: str | None
    replaced: str | None = None
    in_shadow: bool = False
    awaiting_approval: bool = False


# --- the monitoring DAG -------------------------------------------------------------------------


class Window(StepRecord):
    """A loaded monitoring window: its production rows, published content-addressed."""

    NAME = Record.WINDOW

    window_start: str
    window_end: str
    window_key: str
    source: str
    source_files: int
    rows: int
    status: Literal["loaded"]
    key: str
    uri: str
    sha256: str
    columns: dict[str, str]
    has_labels: bool
    source_digests: dict[str, str] | None = None


class Scored(StepRecord):
    """The window scored by the champion (or its fallback): the predictions table and its quality."""

    NAME = Record.SCORE

    model_name: str
    model_version: str
    model_run_id: str | None
    rows: int
    predictions_key: str
    predictions_uri: str
    quality: dict[str, Any] | None
    served_by: str
    fallback: dict[str, Any]
    postprocess: dict[str, Any]


class DriftResult(StepRecord):
    """Drift of the window against the champion's reference, and where Evidently's report is."""

    NAME = Record.DRIFT

    window_key: str
    window_start: str
    window_end: str
    rows: int
    model_version: str
    reference: dict[str, Any]
    dataset: dict[str, Any]
    domain_classifier: dict[str, Any] | None
    report: dict[str, Any]
    mlflow_run_id: str
    # label-free estimate (binary classifiers): {metrics: {m: {value, lower, upper}}, reference, rows} or
    # {skipped: why}; realized quality stays on Scored.quality
    estimated_quality: dict[str, Any] | None = None
    drift_uri: str | None = None


class WindowVerdict(StepRecord):
    """The monitor's verdict on the window: severity ``ok``, ``drift``, ``at_risk`` or ``degraded``, why,
    every signal, and the primary metric realized (labels) and estimated (no labels) side by side."""

    NAME = Record.DECISION

    status: str
    reasons: list[str]
    window_key: str
    window_start: str
    window_end: str
    model_version: str
    report_uri: str
    dag_id: str
    run_id: str
    decided_at: str
    signals: list[dict[str, Any]] = []
    primary_metric: str | None = None
    realized: float | None = None
    estimated: float | None = None
    estimated_band: list[float | None] | None = None
    evidently_report_uri: str | None = None
    decision_uri: str | None = None
    # what scored the window: "champion" (model_version) or "fallback"
    served_by: str | None = None
    # late labels: the predictions labels are joined to, how many rows had a label when decided, the
    # realized quality ({"source": "window" | "labels", "rows", "metrics", "reference"}) and each
    # verdict the window has had, oldest first ({"status", "by": "monitor" | "labels", "at", ...})
    predictions_key: str | None = None
    labelled_rows: int | None = None
    realized_quality: dict[str, Any] | None = None
    history: list[dict[str, Any]] = []
    mlflow_run_id: str | None = None


class ActionTaken(StepRecord):
    """What the retrain guard did with the verdict: alert, request a retrain, or neither, and why."""

    NAME = Record.ACTION

    alert: bool
    retrain: bool
    reasons: list[str]
    status: str
    window_key: str
    recent_statuses: list[str]
    is_backfill: bool
    allow_retrain_param: bool | None
    note: str = ""  # the retrain's outcome in a few words ("retrain disabled", "cooldown until …")
    counts: bool | None = None  # the verdict is one monitoring.retrain.on counts
    alert_failures: dict[str, str] | None = None
    retrain_dag_id: str | None = None
    retrain_logical_date: str | None = None
    action_uri: str | None = None


class ShadowScore(StepRecord):
    """The challenger in shadow scored on the window (``active``), or why nothing was scored."""

    NAME = Record.SHADOW

    active: bool
    why: str | None = None
    challenger_version: str | None = None
    window_key: str | None = None
    rows: int | None = None
    labeled_rows: int | None = None
    champion_version: str | None = None
    champion: float | None = None
    challenger: float | None = None
    challenger_metrics: dict[str, float | None] | None = None
    predictions_uri: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    scored_at: str | None = None


class ShadowJudgement(StepRecord):
    """Shadow mode's verdict after this window: ``none``, ``pending``, ``promote`` or ``reject``."""

    NAME = Record.SHADOW_DECISION

    outcome: str
    why: str | None = None
    reasons: list[str] | None = None
    windows: int | None = None
    labeled: int | None = None
    mean_gain: float | None = None
    challenger_version: str | None = None
    champion_version: str | None = None
    challenger_cleared: bool | None = None
    notify_failures: dict[str, str] | None = None
    decision_uri: str | None = None
