"""Status of a pipeline: champion, challenger, shadow comparison, last training and monitoring runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlcycle.adapters.ledger import MonitorLedger
from mlcycle.adapters.registry import CHALLENGER, CHAMPION, MlflowRegistry
from mlcycle.adapters.tracking import RunInfo, Tracking
from mlcycle.adapters.wiring import open_store, open_tracking
from mlcycle.config.loader import Pipeline
from mlcycle.config.settings import Settings
from mlcycle.core.names import Tag
from mlcycle.errors import PromotionError
from mlcycle.ops.moves import _registry


def _version_summary(
    registry: MlflowRegistry, tracking: Tracking, version: str, events: list[dict[str, Any]]
) -> dict[str, Any]:
    mv = registry.version_info(version)
    if mv is None:
        raise PromotionError(f"model {registry.name!r} has no version {version!r} (an alias points at it)")
    metrics: dict[str, float] = {}
    run_tags: dict[str, str] = {}
    if mv.run_id:
        run = tracking.run_info(mv.run_id)
        run_tags = run.tags
        metrics = {
            k.removeprefix("test_"): v for k, v in sorted(run.metrics.items()) if k.startswith("test_")
        }
    moved = [e for e in events if e.get("to_version") == version]
    return {
        "version": version,
        "run_id": mv.run_id,
        "validation": mv.tags.get(Tag.VALIDATION),
        "promotion": mv.tags.get(Tag.PROMOTION),
        "trained_by": f"{mv.tags.get(Tag.AIRFLOW_DAG_ID)} {mv.tags.get(Tag.AIRFLOW_RUN_ID)}",
        # the data the version learnt from, and what started its training run
        "data_window": run_tags.get(Tag.WINDOW) or "unknown (not recorded)",
        "trigger": mv.tags.get(Tag.TRIGGER) or run_tags.get(Tag.TRIGGER) or "unknown (not recorded)",
        "metrics": metrics,
        "last_move": moved[-1] if moved else None,
    }


RECENT_MONITORING = 5


def _monitoring_summary(pipe: Pipeline, store: Any, run: RunInfo) -> dict[str, Any]:
    window = run.tags.get(Tag.WINDOW, "")
    try:
        verdict = MonitorLedger(store, pipe.name).verdict(window)
    except Exception as exc:  # the verdict is written by a later task; a run can stop before it
        verdict = {"status": f"no decision recorded ({type(exc).__name__})", "reasons": []}
    return {
        "mlflow_run_id": run.run_id,
        "started": _iso(run.start_time),
        "window": window,
        "model_version": run.tags.get(Tag.MODEL_VERSION),
        "airflow_run_id": run.tags.get(Tag.AIRFLOW_RUN_ID),
        "trigger": run.tags.get(Tag.TRIGGER) or "unknown (not recorded)",
        "drift_share": run.metrics.get("drift_share"),
        "verdict": verdict.get("status"),
        "reasons": verdict.get("reasons", []),
    }


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def status(pipe: Pipeline, settings: Settings) -> dict[str, Any]:
    """Champion, challenger, their metrics, the challenger's shadow comparison, and the last training
    and monitoring runs."""
    from mlcycle.steps.monitor.shadow import shadow_state

    registry = _registry(pipe, settings)
    tracking = open_tracking(settings)
    events = registry.history()
    out: dict[str, Any] = {
        "pipeline": pipe.name,
        "model": registry.name,
        "promotion_mode": pipe.config.promotion.mode,
    }
    for alias in (CHAMPION, CHALLENGER):
        ref = registry.get_alias(alias)
        out[alias] = _version_summary(registry, tracking, ref.version, events) if ref else None

    trainings = tracking.latest_runs(f"mlcycle/{pipe.name}")
    out["last_training"] = None
    if trainings:
        train = trainings[0]
        versions = registry.versions_of_run(train.run_id)
        out["last_training"] = {
            "mlflow_run_id": train.run_id,
            "started": _iso(train.start_time),
            "status": train.status,
            "airflow_run_id": train.tags.get(Tag.AIRFLOW_RUN_ID),
            "trigger": train.tags.get(Tag.TRIGGER) or "unknown (not recorded)",
            "data_window": train.tags.get(Tag.WINDOW) or "unknown (not recorded)",
            "validation": train.tags.get(Tag.VALIDATION, "not validated (the run stopped earlier)"),
            "registered": [f"{v.name} v{v.version}: {v.tags.get(Tag.PROMOTION, '-')}" for v in versions],
        }
    store = open_store(settings)
    recent = [
        _monitoring_summary(pipe, store, run)
        for run in tracking.latest_runs(f"mlcycle/{pipe.name}/monitoring", RECENT_MONITORING)
    ]
    out["last_monitoring"] = recent[0] if recent else None
    out["recent_monitoring"] = recent
    out["shadow"] = shadow_state(
        registry, pipe.config.promotion.shadow_policy, pipe.config.evaluation.primary_metric
    )
    return out


def _render_version(label: str, v: dict[str, Any] | None) -> list[str]:
    if v is None:
        return [f"{label}: none"]
    metrics = ", ".join(f"{k}={val:.4f}" for k, val in v["metrics"].items()) or "no holdout metrics"
    lines = [
        f"{label}: v{v['version']} ({v['validation']}; {v['promotion'] or '-'})",
        f"  trained on: {v['data_window']}",
        f"  triggered by: {v['trigger']} ({v['trained_by']})",
        f"  holdout: {metrics}",
    ]
    if v["last_move"]:
        e = v["last_move"]
        lines.append(f"  since {e['at']}: {e['action']} by {e['by']} ({e['reason']})")
    return lines


def render_status(s: dict[str, Any]) -> str:
    lines = [f"{s['pipeline']} (model {s['model']}, promotion mode {s['promotion_mode']})"]
    lines += _render_version("champion", s["champion"])
    lines += _render_version("challenger", s["challenger"])
    t = s["last_training"]
    lines.append(
        "last training: none recorded"
        if t is None
        else f"last training: {t['started']} {t['status']} (Airflow run {t['airflow_run_id']}, "
        f"triggered by {t['trigger']}; data {t['data_window']}); "
        f"validation {t['validation']}; registered: {', '.join(t['registered']) or 'nothing'}"
    )
    sh = s.get("shadow")
    if sh:
        gain = "n/a" if sh["mean_gain"] is None else f"{sh['mean_gain']:+.4f}"
        lines.append(
            f"shadow: v{sh['challenger_version']} vs champion v{sh['against_champion']}: "
            f"{sh['windows_scored']} of {sh['windows_needed']} window(s) scored, {sh['windows_labeled']} labeled, "
            f"mean gain {gain}; next verdict: {sh['next_verdict']}"
        )
        lines.extend(f"  - {r}" for r in sh["reasons"][1:])
    recent = s.get("recent_monitoring") or []
    if not recent:
        lines.append("last monitoring: none recorded")
    for i, m in enumerate(recent):
        lines.append(
            ("last monitoring: " if i == 0 else "  earlier: ")
            + f"window {m['window']} scored by v{m['model_version']} (Airflow run {m['airflow_run_id']}, "
            f"triggered by {m['trigger']}): {m['verdict']}"
        )
        if i == 0:
            lines.extend(f"  - {r}" for r in m["reasons"])
    return "\n".join(lines)
