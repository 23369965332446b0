"""Registration and promotion: the version, its model card, and the alias moves the promotion mode allows."""

from __future__ import annotations

import logging
from typing import Any

from mlcycle.core.names import SHADOW_RUNNING, Artifact, Record, Tag
from mlcycle.core.records import DataChecks, Evaluation, GateDecision, Promotion, Snapshot, TrainResult
from mlcycle.steps.context import Env

log = logging.getLogger(__name__)


def register_and_promote(
    env: Env,
    trained: TrainResult,
    snapshot: Snapshot,
    checks: DataChecks,
    evaluation: Evaluation,
    decision: GateDecision,
    skip: bool,
) -> Promotion:
    """Register the trained model with its lineage and model card; move aliases as the decision and
    ``promotion.mode`` allow (``skip``: register only)."""
    from mlcycle.adapters.registry import promote, set_challenger
    from mlcycle.core.decisions.promotion import decision_tags
    from mlcycle.core.events import alias_event
    from mlcycle.core.names import CHAMPION
    from mlcycle.errors import PromotionError

    pipe = env.pipe
    registry = env.registry
    tags = {
        **decision_tags(decision.to_xcom(), evaluation.candidate, pipe.config.evaluation.primary_metric),
        Tag.PIPELINE: pipe.name,
        Tag.SNAPSHOT_URI: snapshot.uri,
        Tag.SNAPSHOT_SHA256: snapshot.sha256,
        Tag.CONFIG_SHA256: pipe.config_sha256,
        **trained.registration_tags,
        **env.ctx.tags(),
    }
    ref = registry.register(trained.run_id, trained.model_uri, tags)
    card_uri = log_model_card(env, ref.version, trained.run_id, snapshot, checks, evaluation, decision)
    registry.tag_version(ref.version, {Tag.MODEL_CARD: card_uri})
    outcome: dict[str, Any] = {
        "model_name": ref.name,
        "version": ref.version,
        "verdict": decision.verdict,
        "model_card": card_uri,
    }
    via = f"DAG {env.ctx.dag_id} run {env.ctx.run_id}"
    by = env.ctx.actor
    reasons = list(decision.reasons)
    mode = pipe.config.promotion.mode
    # shadow needs a champion to be scored beside: the first model of a pipeline is promoted directly
    shadow = mode == "shadow" and decision.champion_version is not None
    if not decision.promote:
        outcome.update(promoted=False, why="rejected by validate_model; no alias moved")
    elif skip or ((mode == "manual" or shadow) and not decision.forced):
        # the version waits as challenger: a dry run for good, a manual-mode one until approved,
        # a shadow one until the monitor DAG has judged it on the next windows
        if skip:
            because, tag = "skip_promotion param: champion not moved", "skipped (skip_promotion param)"
            outcome.update(why="passed and set as challenger; champion not moved (skip_promotion param)")
        elif shadow:
            windows = pipe.config.promotion.shadow_policy.windows
            because = (
                f"promotion.mode is shadow: scored beside champion v{decision.champion_version} "
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
        registry.tag_version(ref.version, {Tag.PROMOTION: tag})
        set_challenger(
            registry, ref.version, alias_event("challenger", f"passed the gate; {because}", by, via, reasons)
        )
        outcome["promoted"] = False
    else:
        forced = decision.forced
        event = alias_event(
            "force_promote" if forced else "promote",
            "forced by the force_promote param" if forced else "passed the validation gate",
            by,
            via,
            reasons,
            forced=forced,
        )
        try:
            replaced = promote(registry, ref.version, decision.champion_version, event)
        except PromotionError:
            registry.tag_version(ref.version, {Tag.PROMOTION: "refused: champion moved"})
            raise
        registry.tag_version(
            ref.version,
            {Tag.PROMOTION: "promoted", Tag.REPLACED: replaced.version if replaced else "none"},
        )
        outcome.update(
            promoted=True, replaced=replaced.version if replaced else None, why="promoted to champion"
        )
    champ = registry.get_alias(CHAMPION)
    outcome["champion"] = champ.version if champ else None
    record = Promotion(**outcome)
    env.publish_record(record)
    log.info("model %s v%s: %s", ref.name, ref.version, record.why)
    return record


def log_model_card(
    env: Env,
    version: str,
    run_id: str,
    snapshot: Snapshot,
    checks: DataChecks,
    evaluation: Evaluation,
    decision: GateDecision,
) -> str:
    """Write the version's model card (Markdown and HTML) into its MLflow run and the run records;
    return the Markdown card's URI."""
    from mlcycle.core.model_card import evidence_figures, render_model_card, render_model_card_html
    from mlcycle.core.safe_html import escape_embedded_json

    run_tags = env.tracking.run_tags(run_id)
    lineage = {
        "MLflow run": run_id,
        "Airflow run": f"{env.ctx.dag_id} {env.ctx.run_id} (logical date {env.ctx.logical_date})",
        "config": f"{env.pipe.path} sha256 {env.pipe.config_sha256}",
        "git commit": f"{run_tags.get(Tag.GIT_COMMIT)} ({run_tags.get(Tag.GIT_COMMIT_SOURCE)})",
        "full lineage": f"mlcycle lineage {env.pipe.name} {version}",
    }
    card = render_model_card(
        env.pipe,
        version,
        snapshot.to_xcom(),
        checks.result,
        evaluation.to_xcom(),
        decision.to_xcom(),
        lineage,
    )
    page = escape_embedded_json(
        render_model_card_html(
            card, f"Model card: {env.pipe.model_name} v{version}", evidence_figures(evaluation.to_xcom())
        )
    )
    with env.tracking.run(run_id) as run:
        run.log_text(card, Artifact.CARD)
        run.log_text(page, Artifact.CARD_HTML)
    env.store.publish_bytes(card.encode(), env.record_key(Record.MODEL_CARD))
    env.store.publish_bytes(page.encode(), env.record_key(Record.MODEL_CARD_HTML))
    return f"runs:/{run_id}/{Artifact.CARD}"
