"""Late labels: windows scored before their labels landed get their realized quality, once.

For every window in the guard's ledger that has no realized quality yet, the labels of
``data.labels`` are joined by id to the window's published predictions; with at least
``monitoring.quality.min_labelled_rows`` labelled rows, the model that scored the window is measured
on them as if the labels had come with the window, and the verdict is judged again with the signals
recorded when it was scored. The verdict's ``history`` keeps the estimate-time verdict first and the
realized one after it; the guard counts the window by its latest verdict.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlcycle.adapters.ledger import MonitorLedger
from mlcycle.adapters.sources import load_snapshot
from mlcycle.core.names import Tag, metric_tag
from mlcycle.steps.context import Env
from mlcycle.steps.labels import read_labels

log = logging.getLogger(__name__)

REALIZED, WAITING, SKIPPED = "realized", "waiting", "skipped"


@dataclass(frozen=True)
class LabelOutcome:
    """What joining the labels did for one window."""

    window_key: str
    window_start: str
    window_end: str
    model_version: str
    outcome: str  # realized, waiting (too few labels yet) or skipped (why)
    labelled_rows: int
    rows: int
    before: str
    after: str
    estimated: float | None = None
    realized: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def realized_alert(env: Env, outcomes: list[LabelOutcome]) -> str | None:
    """The alert for windows whose labels turned their verdict into one ``monitoring.alert_on`` pages
    for (None when there is none, or no channel: ``drift`` in notifications.events and Slack or email).
    Each window is realized once, so each such window is announced once; no cooldown applies."""
    pipe = env.pipe
    notes, mon = pipe.config.notifications, pipe.config.monitoring
    turned = [
        o
        for o in outcomes
        if o.outcome == REALIZED and o.after in mon.alert_on and o.before not in mon.alert_on
    ]
    if not turned or "drift" not in notes.events or not (notes.slack_conn_id or notes.email):
        return None
    primary = pipe.config.evaluation.primary_metric
    lines = [
        f":warning: mlcycle pipeline *{pipe.name}*: late labels changed the verdict of {len(turned)} window(s)"
    ]
    for o in turned:
        est = "-" if o.estimated is None else f"{o.estimated:.4f}"
        real = "-" if o.realized is None else f"{o.realized:.4f}"
        lines.append(
            f"- window {o.window_start} .. {o.window_end} (v{o.model_version}): {o.before} -> {o.after}; "
            f"{primary} estimated {est}, realized {real} on {o.labelled_rows} labelled rows"
        )
    lines.append(f"The guard counts them from now on; `mlcycle status {pipe.name}` shows them.")
    return "\n".join(lines)


def pending(verdicts: list[dict[str, Any]], as_of: datetime | None) -> list[dict[str, Any]]:
    """Windows still without realized quality (oldest first), ended before ``as_of`` when given (a
    monitor run leaves its own window to its ``decide`` task)."""
    return [
        v
        for v in verdicts
        if v.get("realized") is None
        and v.get("predictions_key")
        and (as_of is None or datetime.fromisoformat(v["window_end"]) < as_of)
    ]


def join_labels(env: Env, as_of: datetime | None = None, allow_missing: bool = False) -> list[LabelOutcome]:
    """Realize every pending window whose labels have landed (by ``as_of``, in data time, when given).

    ``allow_missing``: a labels source with no file yet means nothing has landed (the monitor's task);
    else it is an error naming ``data.labels.source`` (``mlcycle labels``: the path may be wrong).
    """
    pipe = env.pipe
    ledger = MonitorLedger(env.store, pipe.name)
    todo = pending(ledger.verdicts(), as_of)
    if not todo:
        return []
    labels = read_labels(pipe, as_of=as_of, allow_missing=allow_missing)
    if labels is None or not labels.num_rows:
        return [_outcome(v, WAITING, 0, 0, "no labels have landed") for v in todo]
    lookup = labels.to_pandas().set_index(str(pipe.config.data.id_column))[pipe.config.data.target]
    out = []
    for verdict in todo:
        outcome = _realize(env, ledger, verdict, lookup)
        log.info(
            "window %s: %s (%d labelled of %d) %s",
            outcome.window_key,
            outcome.outcome,
            outcome.labelled_rows,
            outcome.rows,
            outcome.note,
        )
        out.append(outcome)
    return out


def _outcome(v: dict[str, Any], kind: str, labelled: int, rows: int, note: str) -> LabelOutcome:
    return LabelOutcome(
        v["window_key"],
        v["window_start"],
        v["window_end"],
        str(v.get("model_version")),
        kind,
        labelled,
        rows,
        v["status"],
        v["status"],
        v.get("estimated"),
        None,
        note,
    )


def _realize(env: Env, ledger: MonitorLedger, verdict: dict[str, Any], lookup: Any) -> LabelOutcome:
    import numpy as np

    from mlcycle.adapters.model_files import load_sklearn_model
    from mlcycle.core.decisions.monitoring import realize, realized_signal
    from mlcycle.core.features import feature_frame
    from mlcycle.core.metrics import compute_metrics
    from mlcycle.core.scoring import FALLBACK, check_known_labels

    pipe = env.pipe
    data, mon = pipe.config.data, pipe.config.monitoring
    ident = str(data.id_column)
    frame = load_snapshot(env.store, verdict["predictions_key"], [ident, *data.features.all])
    y = frame[ident].map(lookup)
    labelled = y.notna().to_numpy()
    count, rows = int(labelled.sum()), len(frame)
    if verdict.get("served_by") == FALLBACK:
        return _outcome(
            verdict, SKIPPED, count, rows, "scored by the fallback: the champion's quality is unknown"
        )
    if count < mon.quality.min_labelled_rows:
        note = f"{count} labelled, monitoring.quality.min_labelled_rows is {mon.quality.min_labelled_rows}"
        return _outcome(verdict, WAITING, count, rows, note)
    version = str(verdict["model_version"])
    info = env.registry.version_info(version)
    if info is None:
        return _outcome(verdict, SKIPPED, count, rows, f"version {version} is no longer in the registry")
    label = f"model {pipe.model_name!r} version {version}"
    model = load_sklearn_model(f"models:/{pipe.model_name}/{version}", info.tags, label)
    y = y[labelled]
    if pipe.config.model.is_classification:
        y = y.astype(np.asarray(model.classes_).dtype)  # a map with misses gave floats: 1.0 -> 1
        check_known_labels(pipe, model, y.rename(data.target), version)
    else:
        y = y.astype("float64")
    X = feature_frame(pipe, frame.loc[labelled])
    primary = pipe.config.evaluation.primary_metric
    ref = info.tags.get(metric_tag(primary))
    metrics = compute_metrics(pipe, model, X, y)
    quality: dict[str, Any] = {
        "source": "labels",
        "rows": count,
        "metrics": metrics,
        "reference": {primary: float(ref)} if ref is not None else {},
    }
    signal = realized_signal(quality, mon, primary)
    if signal is None:
        return _outcome(verdict, SKIPPED, count, rows, f"{primary} not comparable on the labels")
    judged = realize(verdict.get("signals") or [], signal)
    now = datetime.now(UTC)
    realized = metrics.get(primary)
    updated = {
        **verdict,
        "status": judged.status,
        "reasons": list(judged.reasons),
        "signals": [s.__dict__ for s in judged.signals],
        "realized": realized,
        "labelled_rows": count,
        "realized_quality": {
            **quality,
            "joined_at": now.isoformat(),
            "labels_source": data.labels.source if data.labels else None,
        },
        "history": [
            *(verdict.get("history") or []),
            {"status": judged.status, "by": "labels", "at": now.isoformat(), "realized": realized},
        ],
    }
    ledger.record_verdict(verdict["window_key"], updated)
    ledger.record_event(
        "labels",
        {"window_key": verdict["window_key"], "before": verdict["status"], "after": judged.status},
        verdict["window_end"],
        now,
    )
    if verdict.get("mlflow_run_id"):
        with env.tracking.run(verdict["mlflow_run_id"]) as run:
            run.set_tags({Tag.VERDICT: judged.status})
            run.log_metrics({f"realized_{k}": v for k, v in metrics.items() if v is not None})
    return LabelOutcome(
        verdict["window_key"],
        verdict["window_start"],
        verdict["window_end"],
        version,
        REALIZED,
        count,
        rows,
        verdict["status"],
        judged.status,
        verdict.get("estimated"),
        realized,
    )
