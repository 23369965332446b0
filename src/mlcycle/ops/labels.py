"""``mlcycle labels PIPELINE``: join the labels that have landed to the windows scored without them."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

from mlcycle.adapters.wiring import open_store
from mlcycle.config.loader import Pipeline
from mlcycle.config.settings import Settings
from mlcycle.errors import ConfigError
from mlcycle.steps.context import Env, RunContext
from mlcycle.steps.monitor.labels import REALIZED, LabelOutcome, join_labels


def run_labels(pipe: Pipeline, settings: Settings) -> list[LabelOutcome]:
    """Realize every monitored window whose labels have landed in ``data.labels`` (each once)."""
    if pipe.config.data.labels is None:
        raise ConfigError(
            pipe.path,
            [
                "data.labels: not set; add data.labels.source (where late labels land, with "
                "data.id_column and the target) to join labels to windows scored without them"
            ],
        )
    now = datetime.now(UTC)
    ctx = RunContext(
        "mlcycle-cli", f"labels__{now.strftime('%Y%m%dT%H%M%SZ')}", now.isoformat(), actor=getpass.getuser()
    )
    return join_labels(Env(pipe, settings, open_store(settings), ctx))


def _metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def render_labels(pipe: Pipeline, outcomes: list[LabelOutcome]) -> str:
    primary = pipe.config.evaluation.primary_metric
    if not outcomes:
        return f"{pipe.name}: every monitored window has its realized quality; nothing to join"
    realized = sum(o.outcome == REALIZED for o in outcomes)
    lines = [
        f"{pipe.name}: labels joined to {realized} of {len(outcomes)} window(s) without realized quality",
        f"{'window':<24} {'model':<6} {'labelled':>15}  {primary + ' est -> realized':<30} verdict",
    ]
    for o in outcomes:
        start_end = f"{o.window_start[:10]}..{o.window_end[:10]}"
        quality = f"{_metric(o.estimated)} -> {_metric(o.realized)}" if o.outcome == REALIZED else "-"
        verdict = (
            f"{o.before} -> {o.after}" if o.outcome == REALIZED else f"{o.before} ({o.outcome}: {o.note})"
        )
        lines.append(
            f"{start_end:<24} v{o.model_version:<5} {o.labelled_rows:>7} of {o.rows:<6} {quality:<30} {verdict}"
        )
    return "\n".join(lines)
