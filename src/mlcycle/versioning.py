"""Versioning you can answer questions with: alias history, rollback, approval, status, lineage.

Every alias move is appended, under the model's alias lock, to the registered model's
``mlcycle.history.<seq>`` tags in MLflow (see ``registry``); this module reads that history
and the tags and artifacts training recorded, and performs the manual moves (rollback and
approval) through the same compare-and-set ``promote``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlcycle.config import Pipeline
from mlcycle.errors import PromotionError
from mlcycle.registry import CHALLENGER, CHAMPION, MlflowRegistry, promote
from mlcycle.settings import Settings

REASONS_KEPT = 20


def alias_event(
    action: str, reason: str, by: str, via: str, reasons: list[str] | None = None, forced: bool = False
) -> dict[str, Any]:
    """An alias-move record; ``promote``/``set_challenger`` add the alias and the versions."""
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "action": action,
        "reason": reason[:1000],
        "reasons": [r[:300] for r in (reasons or [])[:REASONS_KEPT]],
        "by": by[:200],
        "via": via[:300],
        "forced": forced,
    }


def airflow_actor() -> str:
    """Who started the current Airflow run: its triggering user, else the scheduler."""
    try:
        from airflow.sdk import get_current_context

        user = getattr(get_current_context()["dag_run"], "triggering_user_name", None)
    except Exception:  # outside a task (tests calling the stages directly): no Airflow context
        return "unknown (no Airflow context)"
    return str(user) if user else "airflow (scheduled)"


def cli_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"


def recorded_reasons(tags: dict[str, str]) -> list[str]:
    """The gate's reasons from the version tag (cut at MLflow's tag length, so maybe not JSON)."""
    text = tags.get("mlcycle.validation_reasons", "[]")
    try:
        return [str(r) for r in json.loads(text)]
    except ValueError:
        return [text]


def is_validated(tags: dict[str, str]) -> bool:
    """Passed the validation gate on its own (a forced promotion did not)."""
    return tags.get("mlcycle.validation") == "passed" and tags.get("mlcycle.forced") != "true"


def _registry(pipe: Pipeline, settings: Settings) -> MlflowRegistry:
    return MlflowRegistry(pipe.model_name, settings.tracking_uri)


def _version_tags(registry: MlflowRegistry, version: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        return registry.version_tags(version)
    except MlflowException as exc:
        raise PromotionError(
            f"model {registry.name!r} has no version {version!r}; `mlcycle history` and `mlcycle status` "
            "list the versions that exist"
        ) from exc


def previous_champion(registry: MlflowRegistry, current: str) -> str | None:
    """The champion before ``current``: the version its latest promotion (not a rollback) replaced,
    so repeated rollbacks walk back v3 -> v2 -> v1 instead of toggling."""
    for event in reversed(registry.history()):
        if (
            event.get("alias") == CHAMPION
            and event.get("to_version") == current
            and event.get("action") != "rollback"
        ):
            return event.get("from_version")
    replaced = registry.version_tags(current).get("mlcycle.replaced")
    return None if replaced in (None, "", "none") else replaced


def rollback(
    pipe: Pipeline,
    settings: Settings,
    *,
    to: str | None,
    reason: str,
    by: str,
    via: str,
    force: bool = False,
) -> dict[str, Any]:
    """Move ``champion`` back to ``to`` (default: the previous champion), compare-and-set."""
    registry = _registry(pipe, settings)
    current_ref = registry.get_alias(CHAMPION)
    if current_ref is None:
        raise PromotionError(f"model {registry.name!r} has no champion: there is nothing to roll back")
    current = current_ref.version
    target = to or previous_champion(registry, current)
    if target is None:
        raise PromotionError(
            f"champion v{current} of {registry.name!r} replaced no earlier version; name one with --to VERSION"
        )
    target = str(target)
    if target == current:
        raise PromotionError(f"v{target} is already the champion of {registry.name!r}")
    tags = _version_tags(registry, target)
    if not is_validated(tags) and not force:
        raise PromotionError(
            f"v{target} of {registry.name!r} never passed the validation gate "
            f"(validation: {tags.get('mlcycle.validation', 'not recorded')}, forced: "
            f"{tags.get('mlcycle.forced', 'false')}); pass --force (the force param) to roll back to it anyway"
        )
    event = alias_event(
        "rollback",
        reason or "rollback",
        by,
        via,
        [] if is_validated(tags) else ["forced: this version never passed the validation gate"],
        forced=not is_validated(tags),
    )
    promote(registry, target, current, event, move_challenger=False)
    registry.tag_version(target, {"mlcycle.promotion": f"rolled back to (from v{current})"})
    return {"model": registry.name, "from_version": current, "to_version": target, "forced": event["forced"]}


def approve(
    pipe: Pipeline,
    settings: Settings,
    *,
    version: str | None,
    reason: str,
    by: str,
    via: str,
) -> dict[str, Any]:
    """Promote the waiting challenger (or ``version``) to champion, compare-and-set against the
    champion it was validated against."""
    if not reason.strip():
        raise PromotionError("an approval needs a reason (--reason / the reason param)")
    registry = _registry(pipe, settings)
    if version is None:
        waiting = registry.get_alias(CHALLENGER)
        if waiting is None:
            raise PromotionError(f"model {registry.name!r} has no challenger waiting for approval")
        version = waiting.version
    version = str(version)
    tags = _version_tags(registry, version)
    champion = registry.get_alias(CHAMPION)
    if champion is not None and champion.version == version:
        raise PromotionError(f"v{version} is already the champion of {registry.name!r}")
    if not is_validated(tags):
        raise PromotionError(
            f"v{version} of {registry.name!r} did not pass the validation gate "
            f"(validation: {tags.get('mlcycle.validation', 'not recorded')}); only validated versions "
            "can be approved (use the training DAG's force_promote param to override the gate)"
        )
    compared = tags.get("mlcycle.compared_to_champion", "none")
    expected = None if compared == "none" else compared
    event = alias_event("approve", reason, by, via, recorded_reasons(tags))
    replaced = promote(registry, version, expected, event)
    registry.tag_version(
        version,
        {
            "mlcycle.promotion": f"approved by {by[:100]}",
            "mlcycle.replaced": replaced.version if replaced else "none",
        },
    )
    return {"model": registry.name, "version": version, "replaced": replaced.version if replaced else None}


def history(pipe: Pipeline, settings: Settings) -> list[dict[str, Any]]:
    return _registry(pipe, settings).history()


def render_history(model: str, events: list[dict[str, Any]]) -> str:
    if not events:
        return f"{model}: no alias moves recorded"
    lines = [f"{model}: {len(events)} alias move(s), oldest first"]
    for e in events:
        to = f"v{e['to_version']}" if e.get("to_version") else "(removed)"
        move = f"{e.get('alias')}: v{e.get('from_version') or '-'} -> {to}"
        forced = " FORCED" if e.get("forced") else ""
        lines.append(f"#{e.get('seq')} {e.get('at')}  {e.get('action')}{forced}  {move}")
        lines.append(f"    why: {e.get('reason')}")
        lines.extend(f"      - {r}" for r in e.get("reasons") or [])
        lines.append(f"    by: {e.get('by')} via {e.get('via')}")
    return "\n".join(lines)


# --- status -------------------------------------------------------------------------------------


def _version_summary(registry: MlflowRegistry, version: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    mv = registry.client.get_model_version(registry.name, version)
    metrics: dict[str, float] = {}
    if mv.run_id:
        run_metrics = registry.client.get_run(mv.run_id).data.metrics
        metrics = {
            k.removeprefix("test_"): v for k, v in sorted(run_metrics.items()) if k.startswith("test_")
        }
    moved = [e for e in events if e.get("to_version") == version]
    return {
        "version": version,
        "run_id": mv.run_id,
        "validation": mv.tags.get("mlcycle.validation"),
        "promotion": mv.tags.get("mlcycle.promotion"),
        "trained_by": f"{mv.tags.get('airflow.dag_id')} {mv.tags.get('airflow.run_id')}",
        "metrics": metrics,
        "last_move": moved[-1] if moved else None,
    }


def _latest_runs(client: Any, experiment_name: str, count: int = 1) -> list[Any]:
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return []
    return list(
        client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=count)
    )


def _latest_run(client: Any, experiment_name: str) -> Any | None:
    runs = _latest_runs(client, experiment_name)
    return runs[0] if runs else None


RECENT_MONITORING = 5


def _monitoring_summary(pipe: Pipeline, store: Any, run: Any) -> dict[str, Any]:
    from mlcycle.monitoring import window_status_key

    window = run.data.tags.get("mlcycle.window", "")
    try:
        verdict = json.loads(store.read_bytes(window_status_key(pipe, window)))
    except Exception as exc:  # the verdict is written by a later task; a run can stop before it
        verdict = {"status": f"no decision recorded ({type(exc).__name__})", "reasons": []}
    return {
        "mlflow_run_id": run.info.run_id,
        "started": _iso(run.info.start_time),
        "window": window,
        "model_version": run.data.tags.get("mlcycle.model_version"),
        "airflow_run_id": run.data.tags.get("airflow.run_id"),
        "drift_share": run.data.metrics.get("drift_share"),
        "verdict": verdict.get("status"),
        "reasons": verdict.get("reasons", []),
    }


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def status(pipe: Pipeline, settings: Settings) -> dict[str, Any]:
    """Champion, challenger, their metrics, the challenger's shadow comparison, and the last training
    and monitoring runs."""
    from mlcycle.shadow import shadow_state
    from mlcycle.storage import open_store

    registry = _registry(pipe, settings)
    events = registry.history()
    out: dict[str, Any] = {
        "pipeline": pipe.name,
        "model": registry.name,
        "promotion_mode": pipe.config.promotion.mode,
    }
    for alias in (CHAMPION, CHALLENGER):
        ref = registry.get_alias(alias)
        out[alias] = _version_summary(registry, ref.version, events) if ref else None

    client = registry.client
    train = _latest_run(client, f"mlcycle/{pipe.name}")
    out["last_training"] = None
    if train is not None:
        versions = client.search_model_versions(f"run_id = '{train.info.run_id}'")
        out["last_training"] = {
            "mlflow_run_id": train.info.run_id,
            "started": _iso(train.info.start_time),
            "status": train.info.status,
            "airflow_run_id": train.data.tags.get("airflow.run_id"),
            "validation": train.data.tags.get(
                "mlcycle.validation", "not validated (the run stopped earlier)"
            ),
            "registered": [
                f"{v.name} v{v.version}: {v.tags.get('mlcycle.promotion', '-')}" for v in versions
            ],
        }
    store = open_store(settings.artifact_root)
    recent = [
        _monitoring_summary(pipe, store, run)
        for run in _latest_runs(client, f"mlcycle/{pipe.name}/monitoring", RECENT_MONITORING)
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
        else f"last training: {t['started']} {t['status']} (Airflow run {t['airflow_run_id']}); "
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
            + f"window {m['window']} scored by v{m['model_version']} (Airflow run {m['airflow_run_id']}): "
            f"{m['verdict']}"
        )
        if i == 0:
            lines.extend(f"  - {r}" for r in m["reasons"])
    return "\n".join(lines)


# --- lineage ------------------------------------------------------------------------------------

LINEAGE_REQUIRED = (
    "snapshot_uri",
    "snapshot_sha256",
    "rows",
    "window",
    "data_checks",
    "config_sha256",
    "config_content",
    "git_commit",
    "packages",
    "airflow_dag_id",
    "airflow_run_id",
    "airflow_logical_date",
    "mlflow_run_id",
    "replaced",
)


def _artifact_text(client: Any, run_id: str, path: str) -> str | None:
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
        except (MlflowException, OSError):
            return None
        return Path(local).read_text()


def lineage(pipe: Pipeline, settings: Settings, version: str) -> dict[str, Any]:
    """What a version was trained from and by, as recorded at training time."""
    registry = _registry(pipe, settings)
    tags = _version_tags(registry, str(version))
    mv = registry.client.get_model_version(registry.name, str(version))
    if not mv.run_id:
        raise PromotionError(
            f"{registry.name} v{version} has no MLflow run: it was not registered by mlcycle"
        )
    run = registry.client.get_run(mv.run_id)
    rt = run.data.tags
    trained_pipeline = rt.get("mlcycle.pipeline", pipe.name)
    config_text = _artifact_text(registry.client, mv.run_id, f"config/{trained_pipeline}.yaml")
    packages = _artifact_text(registry.client, mv.run_id, "lineage/packages.json")
    checks = _artifact_text(registry.client, mv.run_id, "lineage/data_checks.json")
    recorded_sha = rt.get("mlcycle.config_sha256")
    replaced = tags.get("mlcycle.replaced")
    if replaced is None:
        replaced = "not promoted (" + tags.get("mlcycle.promotion", tags.get("mlcycle.validation", "?")) + ")"
    window = rt.get("mlcycle.window")
    out: dict[str, Any] = {
        "model": registry.name,
        "version": str(version),
        "registered_at": _iso(mv.creation_timestamp),
        "validation": tags.get("mlcycle.validation"),
        "validation_reasons": recorded_reasons(tags),
        "snapshot_uri": rt.get("mlcycle.snapshot_uri"),
        "snapshot_sha256": rt.get("mlcycle.snapshot_sha256"),
        "rows": int(rt["mlcycle.snapshot_rows"]) if "mlcycle.snapshot_rows" in rt else None,
        "window": window,
        "data_checks": rt.get("mlcycle.data_checks")
        and f"{rt['mlcycle.data_checks']}: {rt.get('mlcycle.data_checks_summary', '')}",
        "data_checks_detail": json.loads(checks) if checks else None,
        "config_path": rt.get("mlcycle.config_path"),
        "config_sha256": recorded_sha,
        "config_verified": bool(
            config_text and hashlib.sha256(config_text.encode()).hexdigest() == recorded_sha
        ),
        "config_content": config_text,
        "git_commit": rt.get("mlcycle.git_commit"),
        "git_commit_source": rt.get("mlcycle.git_commit_source"),
        "packages": json.loads(packages) if packages else None,
        "airflow_dag_id": rt.get("airflow.dag_id"),
        "airflow_run_id": rt.get("airflow.run_id"),
        "airflow_logical_date": rt.get("airflow.logical_date"),
        "mlflow_run_id": mv.run_id,
        "mlflow_experiment_id": run.info.experiment_id,
        "model_source": mv.source,
        "replaced": replaced,
    }
    out["missing"] = [k for k in LINEAGE_REQUIRED if out.get(k) in (None, "")]
    return out


def render_lineage(lin: dict[str, Any]) -> str:
    pk = lin["packages"] or {}
    lines = [
        f"{lin['model']} v{lin['version']} (registered {lin['registered_at']}; validation {lin['validation']})",
        f"  data snapshot:  {lin['snapshot_uri']}",
        f"  content sha256: {lin['snapshot_sha256']}",
        f"  rows / window:  {lin['rows']} rows, {lin['window']}",
        f"  data checks:    {lin['data_checks']}",
        f"  config:         {lin['config_path']} sha256 {lin['config_sha256']} "
        f"({'content matches' if lin['config_verified'] else 'CONTENT DOES NOT MATCH THE RECORDED HASH'})",
        f"  git commit:     {lin['git_commit']} ({lin['git_commit_source']})",
        f"  packages:       {', '.join(f'{k}=={v}' for k, v in pk.items()) or 'not recorded'}",
        f"  Airflow:        {lin['airflow_dag_id']} run {lin['airflow_run_id']} "
        f"(logical date {lin['airflow_logical_date']})",
        f"  MLflow run:     {lin['mlflow_run_id']} (experiment {lin['mlflow_experiment_id']})",
        f"  replaced:       {lin['replaced'] if lin['replaced'] != 'none' else 'no earlier champion'}",
    ]
    if lin["missing"]:
        lines.append(f"  NOT RECORDED:   {', '.join(lin['missing'])}")
    lines.append("  config content:")
    lines.extend(f"    | {line}" for line in (lin["config_content"] or "").splitlines())
    return "\n".join(lines)
