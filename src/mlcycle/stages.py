"""The training DAG's steps. Each resolves its inputs, does its work, publishes a JSON record
under ``runs/<dag_id>/<run>/`` in the artifact store and returns a small reference for XCom.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlcycle.config import Pipeline, load_pipeline
from mlcycle.errors import ConfigError, DataCheckError
from mlcycle.ingest import ingest_snapshot, load_snapshot, record_key, release_freed_memory
from mlcycle.settings import Settings, load_settings
from mlcycle.storage import ArtifactStore, open_store
from mlcycle.training import RunContext

log = logging.getLogger(__name__)

SHADOW_RUNNING = "in shadow"


@dataclass(frozen=True)
class Env:
    pipe: Pipeline
    settings: Settings
    store: ArtifactStore
    ctx: RunContext

    def record_key(self, name: str) -> str:
        return record_key(self.ctx.dag_id, self.ctx.run_id, name)

    def publish_json(self, name: str, payload: Any) -> str:
        data = json.dumps(payload, indent=2, sort_keys=True, default=str).encode()
        return self.store.publish_bytes(data, self.record_key(name))


def open_env(config_path: str, ctx: RunContext) -> Env:
    settings = load_settings()
    return Env(load_pipeline(config_path), settings, open_store(settings.artifact_root), ctx)


def ingest(env: Env, interval_end: datetime, lookback_days: int | None = None) -> dict[str, Any]:
    pipe = env.pipe
    if lookback_days is not None and not pipe.config.data.timestamp_column:
        raise ConfigError(
            pipe.path,
            [
                "lookback_days param: this pipeline has no data.timestamp_column, so rows cannot be "
                "selected by time; clear the param or set data.timestamp_column"
            ],
        )
    if lookback_days is not None:
        data = pipe.config.data.model_copy(
            update={"window": pipe.config.data.window.model_copy(update={"lookback_days": lookback_days})}
        )
        pipe = pipe.model_copy(update={"config": pipe.config.model_copy(update={"data": data})})
    snap = ingest_snapshot(pipe, interval_end, env.store).to_dict()
    env.publish_json("ingest.json", snap)
    log.info("snapshot %s: %d rows, sha256 %s", snap["uri"], snap["rows"], snap["sha256"])
    return snap


def check_data(env: Env, snapshot: dict[str, Any]) -> dict[str, Any]:
    from mlcycle.checks import run_checks

    frame = load_snapshot(env.store, snapshot["key"])
    result, full = run_checks(env.pipe, frame)
    report_uri = env.publish_json(
        "data_checks.json", {"summary": result.to_dict(), "great_expectations": full}
    )
    log.info("data checks: %s", result.summary())
    if not result.success:
        raise DataCheckError(
            f"{env.pipe.path}: data checks failed on snapshot {snapshot['uri']}:\n{result.summary()}\n"
            f"full report: {report_uri}"
        )
    return {"success": True, "summary": result.summary(), "report_uri": report_uri}


def train(env: Env, snapshot: dict[str, Any]) -> dict[str, Any]:
    from mlcycle.threads import compute_threads
    from mlcycle.training import prepare_training, train_model, training_columns

    # the snapshot frame lives only inside prepare_training: freed before the fit
    data = prepare_training(env.pipe, load_snapshot(env.store, snapshot["key"], training_columns(env.pipe)))
    release_freed_memory()
    with compute_threads():
        result = train_model(
            env.pipe, data, snapshot, env.ctx, env.settings.tracking_uri, env.settings.mlflow_artifact_root
        )
    log.info("trained %s in MLflow run %s", env.pipe.config.model.estimator, result.run_id)
    record_data_checks(env, result.run_id)
    return result.to_dict()


def record_data_checks(env: Env, run_id: str) -> None:
    """Copy this run's data-check result into the MLflow run, for lineage."""
    import mlflow

    checks = json.loads(env.store.read_bytes(env.record_key("data_checks.json")))
    summary = checks["summary"]
    mlflow.set_tracking_uri(env.settings.tracking_uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.set_tags(
            {
                "mlcycle.data_checks": "passed" if summary["success"] else "failed",
                "mlcycle.data_checks_summary": (
                    f"{summary['evaluated'] - len(summary['failures'])}/{summary['evaluated']} "
                    f"expectations passed on {summary['rows']} rows"
                ),
                "mlcycle.data_checks_uri": env.store.uri(env.record_key("data_checks.json")),
            }
        )
        mlflow.log_dict(summary, "lineage/data_checks.json")


def evaluate(env: Env, snapshot: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    from mlcycle.threads import compute_threads

    with compute_threads():
        return _evaluate(env, snapshot, trained)


def _evaluate(env: Env, snapshot: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    import mlflow

    from mlcycle.decisions import ChampionScore
    from mlcycle.evaluation import (
        Predictions,
        fairness_report,
        load_sklearn_model,
        log_plots,
        metrics_of,
        predict_rows,
        slice_metrics,
    )
    from mlcycle.registry import CHAMPION, MlflowRegistry
    from mlcycle.training import evaluation_columns, feature_frame, split_indices, target_values

    pipe = env.pipe
    frame = load_snapshot(env.store, snapshot["key"], evaluation_columns(pipe))
    _, test_pos = split_indices(pipe, frame)
    holdout = frame.iloc[test_pos].reset_index(drop=True)
    del frame  # only the holdout is scored
    release_freed_memory()
    X, y = feature_frame(pipe, holdout), target_values(pipe, holdout)

    mlflow.set_tracking_uri(env.settings.tracking_uri)
    scored = predict_rows(
        pipe,
        load_sklearn_model(
            trained["model_uri"], trained.get("registration_tags"), f"candidate of run {trained['run_id']}"
        ),
        X,
    )  # the holdout, scored once per model
    candidate = metrics_of(pipe, scored, y)

    registry = MlflowRegistry(pipe.model_name, env.settings.tracking_uri)
    champ_ref = registry.get_alias(CHAMPION)
    champion: ChampionScore | None = None
    champ_scored: Predictions | None = None
    if champ_ref is not None:
        champ_tags = registry.version_tags(champ_ref.version)
        same = (
            champ_tags.get("mlcycle.snapshot_sha256") == snapshot["sha256"]
            and champ_tags.get("mlcycle.config_sha256") == pipe.config_sha256
        )
        try:
            champ_model = load_sklearn_model(champ_ref.uri, champ_tags, f"{champ_ref.uri} (champion)")
            champ_scored = predict_rows(pipe, champ_model, X)
            champion = ChampionScore(champ_ref.version, metrics_of(pipe, champ_scored, y), None, same)
        except Exception as exc:  # any failure to score the champion is recorded, and decided on by policy
            log.warning("champion v%s could not be scored: %s", champ_ref.version, exc)
            champion = ChampionScore(champ_ref.version, {}, f"{type(exc).__name__}: {exc}"[:500], same)
            champ_scored = None
    # the champion's per-slice metrics and fairness figure come from the same holdout rows
    slices = slice_metrics(pipe, scored, y, holdout, champion=champ_scored)
    fairness = fairness_report(pipe, scored, y, holdout)
    if fairness is not None and champ_scored is not None:
        fairness["champion_value"] = (fairness_report(pipe, champ_scored, y, holdout) or {}).get("value")

    record = {
        "holdout_rows": len(holdout),
        "candidate": candidate,
        "champion": None if champion is None else champion.__dict__,
        "slices": slices,
        "fairness": fairness,
        "primary_metric": pipe.config.evaluation.primary_metric,
    }
    with mlflow.start_run(run_id=trained["run_id"]):
        mlflow.log_metrics({f"test_{k}": v for k, v in candidate.items() if v is not None})
        if champion is not None:
            mlflow.log_metrics(
                {f"champion_test_{k}": v for k, v in champion.metrics.items() if v is not None}
            )
        for row in slices:
            for k, v in (row.get("metrics") or {}).items():
                if v is not None and k == pipe.config.evaluation.primary_metric:
                    mlflow.log_metric(f"slice_{row['column']}_{_safe(row['value'])}_{k}", v)
        if fairness is not None:
            mlflow.log_metrics(_fairness_metrics(fairness))
        log_plots(pipe, scored, y)
        mlflow.log_dict(record, "evaluation/evaluation.json")
    record["evaluation_uri"] = env.publish_json("evaluation.json", record)
    return record


def _safe(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in value)[:60]


def _fairness_metrics(fairness: dict[str, Any]) -> dict[str, float]:
    """MLflow metrics of a fairness report: the figure (candidate, champion) and each group's rates."""
    metric, column = fairness["metric"], _safe(fairness["sensitive"])
    out = {f"fairness_{metric}": fairness.get("value"), f"champion_fairness_{metric}": fairness.get("champion_value")}
    for group in fairness["groups"]:
        for rate in ("positive_rate", "recall", "false_positive_rate"):
            out[f"fairness_{column}_{_safe(group['value'])}_{rate}"] = group.get(rate)
    return {k: v for k, v in out.items() if v is not None}


def validate_model(
    env: Env, evaluation: dict[str, Any], trained: dict[str, Any], force: bool
) -> dict[str, Any]:
    """Decide on the full evaluation record (XCom carries only its summary, not slices or fairness)."""
    import mlflow

    from mlcycle.decisions import ChampionScore, decide_promotion

    full = json.loads(env.store.read_bytes(env.record_key("evaluation.json")))
    champ = full.get("champion")
    champion = ChampionScore(**champ) if champ else None
    decision = decide_promotion(
        full["candidate"],
        champion,
        env.pipe.config.evaluation,
        force=force,
        slices=full.get("slices"),
        fairness=full.get("fairness"),
    )
    record = decision.to_dict()
    mlflow.set_tracking_uri(env.settings.tracking_uri)
    with mlflow.start_run(run_id=trained["run_id"]):
        mlflow.set_tags(
            {"mlcycle.validation": decision.verdict, "mlcycle.forced": str(decision.forced).lower()}
        )
        mlflow.log_dict(record, "evaluation/decision.json")
    record["decision_uri"] = env.publish_json("decision.json", record)
    log.info("validation %s:\n  %s", decision.verdict, "\n  ".join(decision.reasons))
    return record


def register_and_promote(
    env: Env, trained: dict[str, Any], snapshot: dict[str, Any], decision: dict[str, Any], skip: bool
) -> dict[str, Any]:
    from mlcycle.errors import PromotionError
    from mlcycle.registry import CHAMPION, MlflowRegistry, decision_tags, promote, set_challenger
    from mlcycle.versioning import airflow_actor, alias_event

    pipe = env.pipe
    registry = MlflowRegistry(pipe.model_name, env.settings.tracking_uri)
    evaluation = json.loads(env.store.read_bytes(env.record_key("evaluation.json")))
    tags = {
        **decision_tags(decision, evaluation["candidate"], pipe.config.evaluation.primary_metric),
        "mlcycle.pipeline": pipe.name,
        "mlcycle.snapshot_uri": snapshot["uri"],
        "mlcycle.snapshot_sha256": snapshot["sha256"],
        "mlcycle.config_sha256": pipe.config_sha256,
        **trained.get("registration_tags", {}),
        **env.ctx.tags(),
    }
    ref = registry.register(trained["run_id"], trained["model_uri"], tags)
    card_uri = log_model_card(env, ref.version, trained["run_id"], snapshot, evaluation, decision)
    registry.tag_version(ref.version, {"mlcycle.model_card": card_uri})
    outcome: dict[str, Any] = {
        "model_name": ref.name,
        "version": ref.version,
        "verdict": decision["verdict"],
        "model_card": card_uri,
    }
    via = f"DAG {env.ctx.dag_id} run {env.ctx.run_id}"
    by = airflow_actor()
    reasons = list(decision["reasons"])
    mode = pipe.config.promotion.mode
    # shadow needs a champion to be scored beside: the first model of a pipeline is promoted directly
    shadow = mode == "shadow" and decision.get("champion_version") is not None
    if not decision["promote"]:
        outcome.update(promoted=False, why="rejected by validate_model; no alias moved")
    elif skip or ((mode == "manual" or shadow) and not decision.get("forced")):
        # the version waits as challenger: a dry run for good, a manual-mode one until approved,
        # a shadow one until the monitor DAG has judged it on the next windows
        if skip:
            because, tag = "skip_promotion param: champion not moved", "skipped (skip_promotion param)"
            outcome.update(why="passed and set as challenger; champion not moved (skip_promotion param)")
        elif shadow:
            windows = pipe.config.promotion.shadow_policy.windows
            because = (
                f"promotion.mode is shadow: scored beside champion v{decision['champion_version']} "
                f"on the next {windows} monitoring window(s)"
            )
            tag = SHADOW_RUNNING
            outcome.update(
                in_shadow=True,
                why=f"passed and set as challenger in shadow; the {pipe.monitor_dag_id} DAG scores it on "
                f"the next {windows} window(s) and promotes it only if it beats the champion",
            )
        else:
            because, tag = "promotion.mode is manual: awaiting approval", "awaiting approval"
            outcome.update(
                awaiting_approval=True,
                why=f"passed and set as challenger; awaiting approval (mlcycle approve {pipe.name} or "
                f"the {pipe.name}__approve DAG)",
            )
        # tagged first: the monitor DAG shadows a challenger only once it is tagged "in shadow"
        registry.tag_version(ref.version, {"mlcycle.promotion": tag})
        set_challenger(registry, ref.version, alias_event("challenger", f"passed the gate; {because}", by, via, reasons))
        outcome["promoted"] = False
    else:
        forced = bool(decision.get("forced"))
        event = alias_event(
            "force_promote" if forced else "promote",
            "forced by the force_promote param" if forced else "passed the validation gate",
            by,
            via,
            reasons,
            forced=forced,
        )
        try:
            replaced = promote(registry, ref.version, decision.get("champion_version"), event)
        except PromotionError:
            registry.tag_version(ref.version, {"mlcycle.promotion": "refused: champion moved"})
            raise
        registry.tag_version(
            ref.version,
            {"mlcycle.promotion": "promoted", "mlcycle.replaced": replaced.version if replaced else "none"},
        )
        outcome.update(
            promoted=True, replaced=replaced.version if replaced else None, why="promoted to champion"
        )
    champ = registry.get_alias(CHAMPION)
    outcome["champion"] = champ.version if champ else None
    env.publish_json("promotion.json", outcome)
    log.info("model %s v%s: %s", ref.name, ref.version, outcome["why"])
    return outcome


def log_model_card(
    env: Env,
    version: str,
    run_id: str,
    snapshot: dict[str, Any],
    evaluation: dict[str, Any],
    decision: dict[str, Any],
) -> str:
    """Write the version's model card (Markdown and HTML) into its MLflow run and the run records;
    return the Markdown card's URI."""
    import mlflow

    from mlcycle.model_card import (
        CARD_HTML_PATH,
        CARD_PATH,
        MODEL_CARD_RECORD,
        render_model_card,
        render_model_card_html,
    )

    checks = json.loads(env.store.read_bytes(env.record_key("data_checks.json")))["summary"]
    mlflow.set_tracking_uri(env.settings.tracking_uri)
    run_tags = mlflow.get_run(run_id).data.tags
    lineage = {
        "MLflow run": run_id,
        "Airflow run": f"{env.ctx.dag_id} {env.ctx.run_id} (logical date {env.ctx.logical_date})",
        "config": f"{env.pipe.path} sha256 {env.pipe.config_sha256}",
        "git commit": f"{run_tags.get('mlcycle.git_commit')} ({run_tags.get('mlcycle.git_commit_source')})",
        "full lineage": f"mlcycle lineage {env.pipe.name} {version}",
    }
    card = render_model_card(env.pipe, version, snapshot, checks, evaluation, decision, lineage)
    page = render_model_card_html(card, f"Model card: {env.pipe.model_name} v{version}")
    with mlflow.start_run(run_id=run_id):
        mlflow.log_text(card, CARD_PATH)
        mlflow.log_text(page, CARD_HTML_PATH)
    env.store.publish_bytes(card.encode(), env.record_key("model_card.md"))
    env.store.publish_bytes(page.encode(), env.record_key(MODEL_CARD_RECORD))
    return f"runs:/{run_id}/{CARD_PATH}"
