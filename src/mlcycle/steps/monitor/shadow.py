"""Shadow mode: the monitor DAG scores the challenger beside the champion and judges it.

A version that passes the gate in ``promotion.mode: shadow`` waits as ``challenger`` tagged
``mlcycle.promotion = in shadow``. Each monitor run then scores it on the window (predictions under
``shadow/<pipeline>/<window>/v<version>.parquet``, never the served ``predictions/`` table) and
records the window as the model-version tag ``mlcycle.shadow.window.<window>`` in MLflow, so the
running comparison survives restarts and a re-run window replaces its own record. ``judge_shadow``
applies ``decisions.decide_shadow`` and promotes (compare-and-set ``registry.promote``) or rejects.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlcycle.adapters.registry import CHALLENGER, CHAMPION, MlflowRegistry, VersionRef
from mlcycle.config.schema import ShadowConfig
from mlcycle.core.decisions.shadow import PROMOTE, REJECT, ShadowVerdict, ShadowWindow, decide_shadow
from mlcycle.core.names import SHADOW_RUNNING, Tag, predictions_key
from mlcycle.core.records import Scored, ShadowJudgement, ShadowScore, Window
from mlcycle.core.scoring import PREDICTION, PROBABILITY, predict
from mlcycle.steps.context import Env
from mlcycle.steps.monitor.score import publish_parquet, window_quality

log = logging.getLogger(__name__)


def shadow_challenger(registry: MlflowRegistry) -> tuple[VersionRef, dict[str, str]] | None:
    """The challenger, with its tags, if it is in shadow (a manual-mode challenger is not)."""
    ref = registry.get_alias(CHALLENGER)
    if ref is None:
        return None
    tags = registry.version_tags(ref.version)
    return (ref, tags) if tags.get(Tag.PROMOTION) == SHADOW_RUNNING else None


def shadow_windows(tags: dict[str, str]) -> list[dict[str, Any]]:
    """The windows recorded on a version in shadow, in the order they were scored."""
    records = [json.loads(v) for k, v in tags.items() if k.startswith(Tag.SHADOW_WINDOW_PREFIX)]
    return sorted(records, key=lambda r: (r["scored_at"], r["window_key"]))


def _window(record: dict[str, Any]) -> ShadowWindow:
    return ShadowWindow(
        record["window_key"], record["champion_version"], record["champion"], record["challenger"]
    )


def score_shadow(env: Env, window: Window, scored: Scored) -> ShadowScore:
    """Score the window with the challenger in shadow, if there is one; record it on the version."""
    import pyarrow as pa

    from mlcycle.adapters.model_files import load_sklearn_model
    from mlcycle.adapters.sources import load_snapshot
    from mlcycle.core.features import feature_frame

    pipe = env.pipe
    registry = env.registry
    found = shadow_challenger(registry)
    if found is None or found[0].version == scored.model_version:
        idle = ShadowScore(active=False, why="no challenger in shadow")
        env.publish_record(idle)
        return idle
    challenger, tags = found
    model = load_sklearn_model(
        challenger.uri, tags, f"challenger {pipe.model_name!r} version {challenger.version}"
    )  # verified like the champion: checksums recorded at registration, skops allow-list
    frame = load_snapshot(env.store, window.key)
    X = feature_frame(pipe, frame)
    outputs = predict(pipe, model, X)
    # the served table's rows, ids and inputs, with the champion's output kept beside the challenger's
    served = load_snapshot(env.store, scored.predictions_key)
    shadow = served.rename(
        columns={PREDICTION: f"champion_{PREDICTION}", PROBABILITY: f"champion_{PROBABILITY}"}
    )
    shadow[PREDICTION] = outputs[PREDICTION]
    if PROBABILITY in outputs:
        shadow[PROBABILITY] = outputs[PROBABILITY]
    shadow = shadow.assign(
        model_version=challenger.version,
        champion_version=scored.model_version,
        shadow=True,
        served=False,
        run_id=env.ctx.run_id,
        scored_at=datetime.now(UTC).isoformat(),
    )
    key = predictions_key(pipe.name, window.window_key, challenger.version, shadow=True)
    uri = publish_parquet(env, pa.Table.from_pandas(shadow, preserve_index=False), key)

    primary = pipe.config.evaluation.primary_metric
    quality = window_quality(env, window, frame, model, X)
    champ_metrics = (scored.quality or {}).get("metrics") or {}
    ch_metrics = (quality or {}).get("metrics") or {}
    entry = {
        "window_key": window.window_key,
        "rows": len(frame),
        "labeled_rows": (quality or {}).get("rows", 0),
        "champion_version": scored.model_version,
        "champion": champ_metrics.get(primary),
        "challenger": ch_metrics.get(primary),
        "challenger_metrics": ch_metrics,
        "predictions_uri": uri,
        "dag_id": env.ctx.dag_id,
        "run_id": env.ctx.run_id,
        "scored_at": shadow["scored_at"].iloc[0],
    }
    registry.tag_version(
        challenger.version,
        {Tag.SHADOW_WINDOW_PREFIX + window.window_key: json.dumps(entry, sort_keys=True, default=str)},
    )
    record = ShadowScore(active=True, challenger_version=challenger.version, **entry)
    env.publish_record(record)
    log.info(
        "shadow: v%s scored %d rows (%s %s vs champion v%s %s) -> %s",
        challenger.version,
        len(frame),
        primary,
        entry["challenger"],
        entry["champion_version"],
        entry["champion"],
        uri,
    )
    return record


def verdict_text(pipe_name: str, version: str, verdict: ShadowVerdict) -> str:
    head = "promoted to champion" if verdict.outcome == PROMOTE else "rejected"
    return "\n".join(
        [
            f"mlcycle pipeline *{pipe_name}*: challenger v{version} in shadow {head}",
            *(f"- {r}" for r in verdict.reasons[:8]),
        ]
    )


def judge_shadow(
    env: Env, shadow: ShadowScore, notify: Callable[[str], dict[str, str]] | None = None
) -> ShadowJudgement:
    """Decide on the challenger in shadow after this window; promote or reject it when it is time."""
    from mlcycle.adapters.registry import clear_challenger, promote
    from mlcycle.core.events import alias_event

    pipe = env.pipe
    if not shadow.active:
        idle = ShadowJudgement(outcome="none", why=shadow.why or "no challenger in shadow")
        env.publish_record(idle)
        return idle
    registry = env.registry
    version = str(shadow.challenger_version)
    found = shadow_challenger(registry)
    champion = registry.get_alias(CHAMPION)
    if found is None or found[0].version != version or (champion and champion.version == version):
        # a retry after the verdict took effect, or the challenger was replaced or approved meanwhile
        gone = ShadowJudgement(outcome="none", why=f"v{version} is no longer the challenger in shadow")
        env.publish_record(gone)
        return gone
    tags = found[1]
    baseline = tags.get(Tag.COMPARED_TO_CHAMPION)
    verdict = decide_shadow(
        [_window(r) for r in shadow_windows(tags)],
        pipe.config.promotion.shadow_policy,
        pipe.config.evaluation.primary_metric,
        challenger=version,
        baseline=None if baseline in (None, "none") else baseline,
        champion=champion.version if champion else None,
    )
    record: dict[str, Any] = {
        **verdict.to_dict(),
        "challenger_version": version,
        "champion_version": baseline,
    }
    via = f"DAG {env.ctx.dag_id} run {env.ctx.run_id}"
    by = env.ctx.actor
    if verdict.outcome in (PROMOTE, REJECT):
        registry.tag_version(version, {Tag.SHADOW_VERDICT: json.dumps(record, default=str)[:4900]})
    if verdict.outcome == PROMOTE:
        event = alias_event("shadow_promote", verdict.reasons[0], by, via, list(verdict.reasons[1:]))
        replaced = promote(registry, version, baseline, event)
        registry.tag_version(
            version,
            {Tag.PROMOTION: "promoted (shadow)", Tag.REPLACED: replaced.version if replaced else "none"},
        )
    elif verdict.outcome == REJECT:
        event = alias_event("shadow_reject", verdict.reasons[0], by, via, list(verdict.reasons[1:]))
        record["challenger_cleared"] = clear_challenger(registry, version, event)
        registry.tag_version(version, {Tag.PROMOTION: "rejected in shadow"})
    if (
        verdict.outcome != "pending"
        and notify is not None
        and "promotion" in pipe.config.notifications.events
    ):
        record["notify_failures"] = notify(verdict_text(pipe.name, version, verdict))
    judged = ShadowJudgement(**record)
    judged = judged.model_copy(update={"decision_uri": env.publish_record(judged)})
    log.info("shadow verdict %s for v%s:\n  %s", verdict.outcome, version, "\n  ".join(verdict.reasons))
    return judged


def shadow_state(registry: MlflowRegistry, policy: ShadowConfig, primary: str) -> dict[str, Any] | None:
    """The challenger in shadow and its running comparison, for ``mlcycle status``."""
    found = shadow_challenger(registry)
    if found is None:
        return None
    ref, tags = found
    champion = registry.get_alias(CHAMPION)
    baseline = tags.get(Tag.COMPARED_TO_CHAMPION)
    records = shadow_windows(tags)
    verdict = decide_shadow(
        [_window(r) for r in records],
        policy,
        primary,
        challenger=ref.version,
        baseline=None if baseline in (None, "none") else baseline,
        champion=champion.version if champion else None,
    )
    return {
        "challenger_version": ref.version,
        "against_champion": baseline,
        "windows_needed": policy.windows,
        "windows_scored": len(records),
        "windows_labeled": sum(_window(r).labeled for r in records),
        "mean_gain": verdict.mean_gain,
        "next_verdict": verdict.outcome,
        "reasons": list(verdict.reasons),
        "windows": [
            {k: r.get(k) for k in ("window_key", "champion", "challenger", "labeled_rows", "run_id")}
            for r in records
        ],
    }
