"""Lineage of a version: what it was trained from and by, as recorded at training time."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mlcycle.adapters.wiring import open_tracking
from mlcycle.config.loader import Pipeline
from mlcycle.config.settings import Settings
from mlcycle.core.events import recorded_reasons
from mlcycle.core.names import Artifact, Tag, config_artifact
from mlcycle.errors import PromotionError
from mlcycle.ops.moves import _registry, _version_tags
from mlcycle.ops.status import _iso

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


def lineage(pipe: Pipeline, settings: Settings, version: str) -> dict[str, Any]:
    """What a version was trained from and by, as recorded at training time."""
    registry = _registry(pipe, settings)
    tags = _version_tags(registry, str(version))
    tracking = open_tracking(settings)
    mv = registry.version_info(str(version))
    if mv is None or not mv.run_id:
        raise PromotionError(
            f"{registry.name} v{version} has no MLflow run: it was not registered by mlcycle"
        )
    run = tracking.run_info(mv.run_id)
    rt = run.tags
    trained_pipeline = rt.get(Tag.PIPELINE, pipe.name)
    config_text = tracking.artifact_text(mv.run_id, config_artifact(trained_pipeline))
    packages = tracking.artifact_text(mv.run_id, Artifact.PACKAGES)
    checks = tracking.artifact_text(mv.run_id, Artifact.DATA_CHECKS)
    recorded_sha = rt.get(Tag.CONFIG_SHA256)
    replaced = tags.get(Tag.REPLACED)
    if replaced is None:
        replaced = "not promoted (" + tags.get(Tag.PROMOTION, tags.get(Tag.VALIDATION, "?")) + ")"
    window = rt.get(Tag.WINDOW)
    out: dict[str, Any] = {
        "model": registry.name,
        "version": str(version),
        "registered_at": _iso(mv.created_ms),
        "validation": tags.get(Tag.VALIDATION),
        "validation_reasons": recorded_reasons(tags),
        "snapshot_uri": rt.get(Tag.SNAPSHOT_URI),
        "snapshot_sha256": rt.get(Tag.SNAPSHOT_SHA256),
        "rows": int(rt[Tag.SNAPSHOT_ROWS]) if Tag.SNAPSHOT_ROWS in rt else None,
        "window": window,
        "data_checks": rt.get(Tag.DATA_CHECKS)
        and f"{rt[Tag.DATA_CHECKS]}: {rt.get(Tag.DATA_CHECKS_SUMMARY, '')}",
        "data_checks_detail": json.loads(checks) if checks else None,
        "config_path": rt.get(Tag.CONFIG_PATH),
        "config_sha256": recorded_sha,
        "config_verified": bool(
            config_text and hashlib.sha256(config_text.encode()).hexdigest() == recorded_sha
        ),
        "config_content": config_text,
        "git_commit": rt.get(Tag.GIT_COMMIT),
        "git_commit_source": rt.get(Tag.GIT_COMMIT_SOURCE),
        "packages": json.loads(packages) if packages else None,
        "airflow_dag_id": rt.get(Tag.AIRFLOW_DAG_ID),
        "airflow_run_id": rt.get(Tag.AIRFLOW_RUN_ID),
        "airflow_logical_date": rt.get(Tag.AIRFLOW_LOGICAL_DATE),
        "mlflow_run_id": mv.run_id,
        "mlflow_experiment_id": run.experiment_id,
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
