"""The validation gate as a step: decide on the evaluation record, record the decision."""

from __future__ import annotations

import logging
from typing import Any

from mlcycle.core.names import Artifact, Record, Tag
from mlcycle.steps.context import Env

log = logging.getLogger(__name__)


def validate_model(
    env: Env, evaluation: dict[str, Any], trained: dict[str, Any], force: bool
) -> dict[str, Any]:
    """Decide on the evaluation record (candidate, champion, slices, fairness); record the decision."""
    from mlcycle.core.decisions.promotion import ChampionScore, decide_promotion

    full = evaluation
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
    with env.tracking.run(trained["run_id"]) as run:
        run.set_tags({Tag.VALIDATION: decision.verdict, Tag.FORCED: str(decision.forced).lower()})
        run.log_dict(record, Artifact.DECISION)
    record["decision_uri"] = env.publish_json(Record.DECISION, record)
    log.info("validation %s:\n  %s", decision.verdict, "\n  ".join(decision.reasons))
    return record
