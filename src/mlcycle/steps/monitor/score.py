"""Batch scoring of a window by the champion (or its fallback), with postprocess rules and quality."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.adapters.sources import load_snapshot
from mlcycle.core.names import Artifact, Tag, metric_tag, predictions_key
from mlcycle.core.records import Scored, Window
from mlcycle.core.scoring import (
    CHAMPION_SERVED,
    FALLBACK,
    MODEL_PREDICTION,
    PREDICTION,
    PROBABILITY,
    check_known_labels,
    predict,
)
from mlcycle.errors import MlcycleError
from mlcycle.steps.context import Env
from mlcycle.steps.monitor.window import window_spec

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


class NoChampionError(MlcycleError):
    """The model has no champion to monitor yet."""


def score(env: Env, window: Window, notify: Callable[[str], dict[str, str]] | None = None) -> Scored:
    """Batch-score the window with the champion (or, when it cannot serve, its fallback), apply the
    postprocess rules stored with it; publish a predictions table; measure quality on labels.

    ``notify(text)`` sends on the configured channels and returns ``{channel: error}`` for failures.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mlcycle.core.features import feature_frame
    from mlcycle.core.names import CHAMPION
    from mlcycle.core.rules import apply_rules

    pipe = env.pipe
    registry = env.registry
    champion = registry.get_alias(CHAMPION)
    if champion is None:
        raise NoChampionError(
            f"model {pipe.model_name!r} has no '{CHAMPION}' alias yet: run {pipe.train_dag_id} first "
            "(the monitor scores windows with the champion)"
        )
    tags = registry.version_tags(champion.version)
    frame = load_snapshot(env.store, window.key)
    spec = window_spec(pipe)
    label = spec.label_column
    X = feature_frame(pipe, frame)
    served = serve(env, champion, tags, X)
    model, outputs = served.model, served.outputs
    rules, rules_sha = stored_rules(champion, tags)
    final, fired = apply_rules(X, outputs[PREDICTION], rules)
    if pipe.config.model.is_classification and window.has_labels and label in frame:
        check_known_labels(pipe, model, frame[label].dropna(), champion.version)  # before publishing
    data = pipe.config.data
    scored_at = datetime.now(UTC)
    n = len(frame)
    ids = pd.Series(np.arange(n)).astype(str)
    preds = pd.DataFrame({"prediction_id": f"{window.sha256[:16]}-" + ids})
    for col in [data.id_column, spec.timestamp_column]:
        if col and col in frame:
            preds[col] = frame[col].to_numpy()
    for col in data.features.all:
        preds[col] = X[col].to_numpy()
    preds[PREDICTION] = final.to_numpy()
    preds[MODEL_PREDICTION] = outputs[PREDICTION]
    if PROBABILITY in outputs:
        preds[PROBABILITY] = outputs[PROBABILITY]
    preds = preds.assign(
        rule=fired.to_numpy(),
        served_by=served.served_by,
        model_name=pipe.model_name,
        model_version=champion.version,
        dag_id=env.ctx.dag_id,
        run_id=env.ctx.run_id,
        window_start=window.window_start,
        window_end=window.window_end,
        scored_at=scored_at.isoformat(),
    )
    table = pa.Table.from_pandas(preds, preserve_index=False)
    key = predictions_key(pipe.name, window.window_key, champion.version)
    uri = publish_parquet(env, table, key)

    quality = window_quality(env, window, frame, model, X)
    if quality is not None and "metrics" in quality:
        if served.served_by == FALLBACK:
            # the fallback's quality says nothing about the champion's: no degradation verdict on it
            quality["fallback_metrics"] = quality.pop("metrics")
            quality["skipped"] = "scored by the fallback: the champion's quality is unknown"
        else:
            primary = pipe.config.evaluation.primary_metric
            ref_value = tags.get(metric_tag(primary))
            quality["reference"] = {primary: float(ref_value)} if ref_value is not None else {}
    counts = fired.value_counts()
    record: dict[str, Any] = {
        "model_name": pipe.model_name,
        "model_version": champion.version,
        "model_run_id": champion.run_id,
        "rows": n,
        "predictions_key": key,
        "predictions_uri": uri,
        "quality": quality,
        "served_by": served.served_by,
        "fallback": served.record(),
        "postprocess": {
            "rules": [r.get("name") for r in rules],
            "rules_sha256": rules_sha,
            "fired": {str(k): int(v) for k, v in counts.items()},
        },
    }
    if served.served_by == FALLBACK:
        record["fallback"]["notified"] = _announce_fallback(env, window, champion.version, served, notify)
    scored = Scored(**record)
    env.publish_record(scored)
    log.info(
        "scored %d rows with %s v%s (%s) -> %s", n, pipe.model_name, champion.version, served.served_by, uri
    )
    return scored


@dataclass(frozen=True)
class Served:
    """What scored the window: the champion, or its fallback and why."""

    served_by: str
    model: Any
    outputs: dict[str, Any]
    problem: str | None = None  # why the champion did not serve
    fallback_kind: str | None = None
    fallback_problem: str | None = None  # why no fallback was usable (recorded even when not needed)

    def record(self) -> dict[str, Any]:
        return {
            "used": self.served_by == FALLBACK,
            "kind": self.fallback_kind,
            "reason": self.problem,
            "unusable": self.fallback_problem,
        }


def serve(env: Env, champion: Any, tags: dict[str, str], X: pd.DataFrame) -> Served:
    """Run the champion on ``X`` if it loads verified and passes the health check, else its fallback."""
    from mlcycle.adapters.model_files import load_sklearn_model, load_verified_json
    from mlcycle.core.fallback import FallbackModel, champion_problem
    from mlcycle.errors import FallbackError

    pipe = env.pipe
    label = f"model {pipe.model_name!r} version {champion.version} ({champion.uri})"
    fallback: FallbackModel | None = None
    fallback_problem = None
    try:
        sha = tags.get(Tag.FALLBACK_SHA256)
        if not sha:
            raise MlcycleError(f"no fallback registered (no {Tag.FALLBACK_SHA256} tag)")
        fallback = FallbackModel(load_verified_json(champion.run_id, Artifact.FALLBACK, sha, label))
    except Exception as exc:  # a missing or altered fallback matters only if the champion fails too
        fallback_problem = f"{type(exc).__name__}: {exc}"[:1000]
        log.warning("%s: no usable fallback: %s", label, fallback_problem)
    classes = fallback.spec.get("classes") if fallback else None
    try:
        model = load_sklearn_model(champion.uri, tags, label)
        outputs = predict(pipe, model, X)
        problem = champion_problem(pipe.config.model.task, outputs, len(X), classes)
    except Exception as exc:  # whatever stops the champion (missing, tampered, broken) is served around
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None:
        return Served(CHAMPION_SERVED, model, outputs, fallback_problem=fallback_problem)
    problem = problem[:1000]
    if fallback is None:
        raise FallbackError(
            f"{label} cannot serve ({problem}) and no usable fallback is registered with it "
            f"({fallback_problem}); the window is not scored. Roll back (mlcycle rollback {pipe.name}) "
            f"or retrain ({pipe.train_dag_id})"
        )
    log.warning("SERVING THE FALLBACK (%s) instead of %s: %s", fallback.kind, label, problem)
    return Served(FALLBACK, fallback, predict(pipe, fallback, X), problem, fallback.kind)


def stored_rules(champion: Any, tags: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """The postprocess rules registered with the champion (not today's YAML), verified."""
    from mlcycle.adapters.model_files import load_verified_json

    sha = tags.get(Tag.RULES_SHA256)
    if not sha:
        return [], None  # registered before rules were stored with versions
    label = f"model {champion.name!r} version {champion.version}"
    return list(load_verified_json(champion.run_id, Artifact.RULES, sha, label)), sha


def _announce_fallback(
    env: Env,
    window: Window,
    version: str,
    served: Served,
    notify: Callable[[str], dict[str, str]] | None,
) -> dict[str, Any]:
    """Tell the failure channels the window was served by the fallback; what was sent, what failed."""
    pipe = env.pipe
    notes = pipe.config.notifications
    if not (notify and "failure" in notes.events and (notes.slack_conn_id or notes.email)):
        return {
            "sent": False,
            "why": "no failure channel configured (notifications.events, slack_conn_id, email)",
        }
    text = "\n".join(
        [
            f":rotating_light: mlcycle pipeline *{pipe.name}*: window {window.window_start} .. "
            f"{window.window_end} was scored by the FALLBACK ({served.fallback_kind}), not champion "
            f"v{version}",
            f"Why: {(served.problem or '')[:600]}",
            "Every prediction row says served_by=fallback. Fix or roll back the champion "
            f"(mlcycle rollback {pipe.name}), or retrain ({pipe.train_dag_id}).",
        ]
    )
    return {"sent": True, "failures": notify(text)}


def window_quality(
    env: Env, window: Window, frame: pd.DataFrame, model: Any, X: pd.DataFrame
) -> dict[str, Any] | None:
    """``model``'s metrics on the window's labeled rows; None when the window has no label column."""
    from mlcycle.core.metrics import compute_metrics

    pipe = env.pipe
    label = window_spec(pipe).label_column
    if not (window.has_labels and label in frame):
        return None
    labelled = frame[label].notna().to_numpy()
    count = int(labelled.sum())
    if count < pipe.config.monitoring.quality.min_labelled_rows:
        return {"rows": count, "label_column": label, "skipped": "too few labelled rows"}
    y = frame.loc[labelled, label]
    y = y if pipe.config.model.is_classification else y.astype("float64")
    return {"rows": count, "label_column": label, "metrics": compute_metrics(pipe, model, X.loc[labelled], y)}


def publish_parquet(env: Env, table: Any, key: str) -> str:

    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="mlcycle-pred-") as tmp:
        out = Path(tmp) / "predictions.parquet"
        pq.write_table(table, out, compression="zstd")
        return env.store.publish_file(out, key)
