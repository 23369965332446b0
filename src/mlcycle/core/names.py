"""Names defined once: task ids, run-record files, MLflow tag keys and artifact paths, registry
aliases, and the artifact store's layout. Everything that writes or reads one of these imports it here."""

from __future__ import annotations

from typing import Final

# --- registry aliases ---------------------------------------------------------------------------
CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
SHADOW_RUNNING: Final = "in shadow"  # the Tag.PROMOTION of a challenger the monitor DAG scores


class Task:
    """Airflow task ids; each equals its step's name."""

    INGEST: Final = "ingest"
    CHECK_DATA: Final = "check_data"
    TRAIN: Final = "train"
    EVALUATE: Final = "evaluate"
    VALIDATE_MODEL: Final = "validate_model"
    REGISTER_AND_PROMOTE: Final = "register_and_promote"
    LOAD_WINDOW: Final = "load_window"
    SCORE: Final = "score"
    DETECT_DRIFT: Final = "detect_drift"
    DECIDE: Final = "decide"
    ACT: Final = "act"
    JOIN_LABELS: Final = "join_labels"
    TRIGGER_RETRAIN: Final = "trigger_retrain"
    SHADOW_SCORE: Final = "shadow_score"
    SHADOW_DECIDE: Final = "shadow_decide"
    ROLLBACK: Final = "rollback"
    APPROVE: Final = "approve"


TRAINING_TASKS: Final = (
    Task.INGEST,
    Task.CHECK_DATA,
    Task.TRAIN,
    Task.EVALUATE,
    Task.VALIDATE_MODEL,
    Task.REGISTER_AND_PROMOTE,
)
MONITOR_TASKS: Final = (Task.LOAD_WINDOW, Task.SCORE, Task.DETECT_DRIFT, Task.DECIDE, Task.ACT)
# tasks that load data and fit or score models (execution.heavy); the rest decide and record (light)
HEAVY_TASKS: Final = frozenset(
    {
        Task.INGEST,
        Task.CHECK_DATA,
        Task.TRAIN,
        Task.EVALUATE,
        Task.LOAD_WINDOW,
        Task.SCORE,
        Task.DETECT_DRIFT,
        Task.SHADOW_SCORE,
        Task.JOIN_LABELS,
    }
)


# the run id prefix of the training runs the drift monitor requests (trigger_retrain)
RETRAIN_RUN_PREFIX: Final = "drift_retrain__"
# the triggering user Airflow's dag.test() records; the CLI names its own user instead
DAG_TEST_USER: Final = "dag_test"


class Record:
    """The files each run writes under ``runs/<dag_id>/<run>/`` in the artifact store."""

    INGEST: Final = "ingest.json"
    DATA_CHECKS: Final = "data_checks.json"
    EVALUATION: Final = "evaluation.json"
    DECISION: Final = "decision.json"
    PROMOTION: Final = "promotion.json"
    MODEL_CARD: Final = "model_card.md"
    MODEL_CARD_HTML: Final = "model_card.html"  # the register_and_promote task's "Model card" link
    WINDOW: Final = "window.json"
    SCORE: Final = "score.json"
    DRIFT: Final = "drift.json"
    DRIFT_REPORT: Final = "drift_report.json"
    DRIFT_REPORT_HTML: Final = (
        "drift_report.html"  # Evidently's; the detect_drift task's "Evidently report" link
    )
    WINDOW_REPORT_HTML: Final = (
        "window_report.html"  # the verdict's report; the decide task's "Window report" link
    )
    ACTION: Final = "action.json"
    SHADOW: Final = "shadow.json"
    SHADOW_DECISION: Final = "shadow_decision.json"


class Tag:
    """MLflow tag keys mlcycle writes on runs, model versions and registered models."""

    PIPELINE: Final = "mlcycle.pipeline"
    MANAGED: Final = "mlcycle.managed"
    CONFIG_PATH: Final = "mlcycle.config_path"
    CONFIG_SHA256: Final = "mlcycle.config_sha256"
    SNAPSHOT_URI: Final = "mlcycle.snapshot_uri"
    SNAPSHOT_SHA256: Final = "mlcycle.snapshot_sha256"
    SNAPSHOT_ROWS: Final = "mlcycle.snapshot_rows"
    WINDOW: Final = "mlcycle.window"
    GIT_COMMIT: Final = "mlcycle.git_commit"
    GIT_COMMIT_SOURCE: Final = "mlcycle.git_commit_source"
    DATA_CHECKS: Final = "mlcycle.data_checks"
    DATA_CHECKS_SUMMARY: Final = "mlcycle.data_checks_summary"
    DATA_CHECKS_URI: Final = "mlcycle.data_checks_uri"
    VALIDATION: Final = "mlcycle.validation"
    VALIDATION_REASONS: Final = "mlcycle.validation_reasons"
    COMPARED_TO_CHAMPION: Final = "mlcycle.compared_to_champion"
    FORCED: Final = "mlcycle.forced"
    METRIC_PREFIX: Final = "mlcycle.metric."  # + the primary metric: its holdout value
    PROMOTION: Final = "mlcycle.promotion"
    REPLACED: Final = "mlcycle.replaced"
    MODEL_CARD: Final = "mlcycle.model_card"
    MODEL_SHA256: Final = "mlcycle.model_sha256"
    MODEL_FILES: Final = "mlcycle.model_files"  # {relative path: sha256} of every file of the model artifact
    FALLBACK_SHA256: Final = "mlcycle.fallback_sha256"
    FALLBACK_KIND: Final = "mlcycle.fallback_kind"
    RULES_SHA256: Final = "mlcycle.postprocess_rules_sha256"
    MODEL_VERSION: Final = "mlcycle.model_version"
    PREDICTIONS_URI: Final = "mlcycle.predictions_uri"
    SERVED_BY: Final = "mlcycle.served_by"
    VERDICT: Final = "mlcycle.verdict"  # the monitor run's severity: ok, drift, at_risk, degraded
    VERDICT_SIGNALS: Final = "mlcycle.verdict_signals"  # the signals that fired, comma-separated
    FALLBACK_REASON: Final = "mlcycle.fallback_reason"
    SHADOW_WINDOW_PREFIX: Final = "mlcycle.shadow.window."  # + the window key: one scored window
    SHADOW_VERDICT: Final = "mlcycle.shadow.verdict"
    HISTORY_PREFIX: Final = "mlcycle.history."  # + a zero-padded sequence number: one alias move
    LOCK_OWNER: Final = "mlcycle.lock.owner"
    LOCK_TOKEN: Final = "mlcycle.lock.token"
    LOCK_ACQUIRED_AT: Final = "mlcycle.lock.acquired_at"
    LOCK_EXPIRES_AT: Final = "mlcycle.lock.expires_at"
    LOCK_BROKEN_BY: Final = "mlcycle.lock.broken_by"
    AIRFLOW_DAG_ID: Final = "airflow.dag_id"
    AIRFLOW_RUN_ID: Final = "airflow.run_id"
    AIRFLOW_LOGICAL_DATE: Final = "airflow.logical_date"
    AIRFLOW_TRY_NUMBER: Final = "airflow.try_number"
    TRIGGER: Final = "mlcycle.trigger"  # what started the Airflow run (core/triggers.describe_trigger)


def metric_tag(metric: str) -> str:
    return Tag.METRIC_PREFIX + metric


class Artifact:
    """Artifact paths inside an MLflow run."""

    MODEL: Final = "model"
    REFERENCE_DIR: Final = "reference"
    FALLBACK: Final = "fallback/fallback.json"
    RULES: Final = "postprocess/rules.json"
    CARD: Final = "model_card/model_card.md"
    CARD_HTML: Final = "model_card/model_card.html"
    CONFIG_DIR: Final = "config"  # + /<pipeline>.yaml: the YAML as trained
    SNAPSHOT: Final = "lineage/snapshot.json"
    PACKAGES: Final = "lineage/packages.json"
    DATA_CHECKS: Final = "lineage/data_checks.json"
    EVALUATION: Final = "evaluation/evaluation.json"
    DECISION: Final = "evaluation/decision.json"


def config_artifact(pipeline: str) -> str:
    return f"{Artifact.CONFIG_DIR}/{pipeline}.yaml"


# --- the artifact store's layout ----------------------------------------------------------------
def run_key(run_id: str) -> str:
    """A storage-safe form of an Airflow run id."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in run_id)


def record_key(dag_id: str, run_id: str, name: str) -> str:
    """Where a DAG run's step records live in the artifact store: ``runs/<dag_id>/<run>/<name>``."""
    return f"runs/{run_key(dag_id)}/{run_key(run_id)}/{name}"


def snapshots_prefix(pipeline: str) -> str:
    """Where a pipeline's content-addressed training snapshots live: ``<prefix>/<sha256>.parquet``."""
    return f"snapshots/{pipeline}"


def snapshot_key(pipeline: str, sha256: str) -> str:
    return f"{snapshots_prefix(pipeline)}/{sha256}.parquet"


def windows_prefix(pipeline: str) -> str:
    """Where the monitor's content-addressed window tables live."""
    return f"windows/{pipeline}"


def predictions_key(pipeline: str, window_key: str, version: str, *, shadow: bool = False) -> str:
    """The served predictions of a window (or, ``shadow``, a challenger's, never served)."""
    return f"{'shadow' if shadow else 'predictions'}/{pipeline}/{window_key}/v{version}.parquet"


def window_statuses_prefix(pipeline: str) -> str:
    """The latest verdict of each monitoring window (the retrain guard's ledger)."""
    return f"monitor/{pipeline}/windows"


def window_status_key(pipeline: str, window_key: str) -> str:
    return f"{window_statuses_prefix(pipeline)}/{window_key}.json"


def monitor_events_prefix(pipeline: str) -> str:
    """Append-only alerts and retrain requests of the monitor (the retrain guard's ledger)."""
    return f"monitor/{pipeline}/events"
