"""Evaluation: the candidate and the champion scored on the same holdout."""

from __future__ import annotations

import logging
from typing import Any

from mlcycle.adapters.sources import load_snapshot, release_freed_memory
from mlcycle.core.names import Artifact, Tag
from mlcycle.core.records import Evaluation, Snapshot, TrainResult
from mlcycle.steps.context import Env

log = logging.getLogger(__name__)


def evaluate(env: Env, snapshot: Snapshot, trained: TrainResult) -> Evaluation:
    """Score the candidate and the champion on the snapshot's holdout; log and publish the evaluation."""
    from mlcycle.steps.threads import compute_threads

    with compute_threads():
        return _evaluate(env, snapshot, trained)


def _evaluate(env: Env, snapshot: Snapshot, trained: TrainResult) -> Evaluation:
    from mlcycle.adapters.model_files import load_sklearn_model
    from mlcycle.core.decisions.promotion import ChampionScore
    from mlcycle.core.evidence import holdout_evidence
    from mlcycle.core.features import evaluation_columns, feature_frame, split_indices, target_values
    from mlcycle.core.metrics import Predictions, fairness_report, metrics_of, predict_rows, slice_metrics
    from mlcycle.core.names import CHAMPION
    from mlcycle.core.plots import holdout_figures
    from mlcycle.steps.reference import log_performance_reference

    pipe = env.pipe
    frame = load_snapshot(env.store, snapshot.key, evaluation_columns(pipe))
    _, test_pos = split_indices(pipe, frame)
    holdout = frame.iloc[test_pos].reset_index(drop=True)
    del frame  # only the holdout is scored
    release_freed_memory()
    X, y = feature_frame(pipe, holdout), target_values(pipe, holdout)

    tracking = env.tracking
    model = load_sklearn_model(
        trained.model_uri, trained.registration_tags, f"candidate of run {trained.run_id}"
    )
    scored = predict_rows(pipe, model, X)  # the holdout, scored once per model
    candidate = metrics_of(pipe, scored, y)
    evidence = holdout_evidence(pipe, model, X, y, scored)
    del model

    registry = env.registry
    champ_ref = registry.get_alias(CHAMPION)
    champion: ChampionScore | None = None
    champ_scored: Predictions | None = None
    if champ_ref is not None:
        champ_tags = registry.version_tags(champ_ref.version)
        same = (
            champ_tags.get(Tag.SNAPSHOT_SHA256) == snapshot.sha256
            and champ_tags.get(Tag.CONFIG_SHA256) == pipe.config_sha256
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

    record = Evaluation(
        holdout_rows=len(holdout),
        candidate=candidate,
        champion=champion,
        slices=slices,
        fairness=fairness,
        primary_metric=pipe.config.evaluation.primary_metric,
        evidence=evidence,
    )
    with tracking.run(trained.run_id) as run:
        run.log_metrics({f"test_{k}": v for k, v in candidate.items() if v is not None})
        if champion is not None:
            run.log_metrics({f"champion_test_{k}": v for k, v in champion.metrics.items() if v is not None})
        for row in slices:
            for k, v in (row.get("metrics") or {}).items():
                if v is not None and k == pipe.config.evaluation.primary_metric:
                    run.log_metric(f"slice_{row['column']}_{_safe(row['value'])}_{k}", v)
        if fairness is not None:
            run.log_metrics(_fairness_metrics(fairness))
        log_performance_reference(pipe, run, scored, y, candidate)
        for name, figure in holdout_figures(pipe, scored, y):
            run.log_figure(figure, name)
        run.log_dict(record.to_xcom(), Artifact.EVALUATION)
    return record.model_copy(update={"evaluation_uri": env.publish_record(record)})


def _safe(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in value)[:60]


def _fairness_metrics(fairness: dict[str, Any]) -> dict[str, float]:
    """MLflow metrics of a fairness report: the figure (candidate, champion) and each group's rates."""
    metric, column = fairness["metric"], _safe(fairness["sensitive"])
    out = {
        f"fairness_{metric}": fairness.get("value"),
        f"champion_fairness_{metric}": fairness.get("champion_value"),
    }
    for group in fairness["groups"]:
        for rate in ("positive_rate", "recall", "false_positive_rate"):
            out[f"fairness_{column}_{_safe(group['value'])}_{rate}"] = group.get(rate)
    return {k: v for k, v in out.items() if v is not None}
