"""The validation gate as a step: decide on the evaluation record, record the decision."""

from __future__ import annotations

import logging

from mlcycle.core.names import Artifact, Tag
from mlcycle.core.records import Evaluation, GateDecision, TrainResult
from mlcycle.steps.context import Env

log = logging.getLogger(__name__)


def validate_model(env: Env, evaluation: Evaluation, trained: TrainResult, force: bool) -> GateDecision:
    """Decide on the evaluation record (candidate, champion, slices, fairness); record the decision."""
    from mlcycle.core.decisions.promotion import decide_promotion

    decision = decide_promotion(
        evaluation.candidate,
        evaluation.champion,
        env.pipe.config.evaluation,
        force=force,
        slices=evaluation.slices,
        fairness=evaluation.fairness,
    )
    record = GateDecision.model_validate(decision.to_dict())
    with env.tracking.run(trained.run_id) as run:
        run.set_tags({Tag.VALIDATION: decision.verdict, Tag.FORCED: str(decision.forced).lower()})
        run.log_dict(record.to_xcom(), Artifact.DECISION)
    record = record.model_copy(update={"decision_uri": env.publish_record(record)})
    log.info("validation %s:\n  %s", decision.verdict, "\n  ".join(decision.reasons))
    return record
