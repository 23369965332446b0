"""OpenLineage datasets and facets of each task, built from the step records (pure: dicts, no I/O).

Naming (docs/lineage.md): a local file is namespace ``file``, name its absolute path; an S3 object is
namespace ``s3://<bucket>``, name its key; an MLflow run is ``runs/<run_id>`` and a registered model
version ``models/<model>/<version>``, both in namespace ``mlflow://<tracking host>``. A content hash
is the standard ``version`` dataset facet. mlcycle's own facets are named ``mlcycle_*`` and carry a
``_schemaURL`` under ``SCHEMA_BASE``; the JSON schemas are in docs/lineage/facets/.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mlcycle.core.names import CHALLENGER, CHAMPION

PRODUCER = "https://github.com/mlcycle/mlcycle"
SCHEMA_BASE = "https://mlcycle.dev/spec/facets/1-0-0/"
_OL_FACETS = "https://openlineage.io/spec/facets/"

# facet key -> schema name; the schema file is docs/lineage/facets/<name>.json
FACETS: dict[str, str] = {
    "mlcycle_config": "MlcycleConfigRunFacet",
    "mlcycle_dataChecks": "MlcycleDataChecksRunFacet",
    "mlcycle_metrics": "MlcycleMetricsRunFacet",
    "mlcycle_gate": "MlcycleGateRunFacet",
    "mlcycle_aliasMove": "MlcycleAliasMoveRunFacet",
    "mlcycle_serving": "MlcycleServingRunFacet",
    "mlcycle_monitorVerdict": "MlcycleMonitorVerdictRunFacet",
}
_STANDARD = {
    "version": _OL_FACETS + "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    "schema": _OL_FACETS + "1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
}


def schema_url(key: str) -> str:
    name = FACETS[key]
    return f"{SCHEMA_BASE}{name}.json#/$defs/{name}"


def facet(key: str, **fields: Any) -> dict[str, Any]:
    """A facet dict: ``fields`` plus ``_producer`` and the ``_schemaURL`` of ``key``."""
    url = _STANDARD[key] if key in _STANDARD else schema_url(key)
    return {"_producer": PRODUCER, "_schemaURL": url, **fields}


@dataclass(frozen=True)
class TaskLineage:
    """What one task read and wrote, and the facets of its run (OpenLineage JSON shapes)."""

    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    run_facets: dict[str, dict[str, Any]] = field(default_factory=dict)


# --- naming -------------------------------------------------------------------------------------


def mlflow_namespace(tracking_uri: str) -> str:
    """``mlflow://<host[:port]>`` of a tracking server; a local store is ``mlflow://localhost<path>``.

    User names and passwords in the URI never reach the namespace.
    """
    parts = urlsplit(tracking_uri)
    if parts.scheme in ("", "file", "sqlite"):
        path = parts.path if parts.scheme else tracking_uri
        return f"mlflow://localhost/{path.lstrip('/')}"
    host = parts.hostname or "localhost"
    return f"mlflow://{host}{f':{parts.port}' if parts.port else ''}{parts.path.rstrip('/')}"


def file_dataset(
    uri: str, sha256: str | None = None, columns: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A file or S3 object as a dataset, its content hash as the ``version`` facet."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://") :].partition("/")
        namespace, name = f"s3://{bucket}", key
    else:
        namespace, name = "file", uri.removeprefix("file://")
    facets: dict[str, Any] = {}
    if sha256:
        facets["version"] = facet("version", datasetVersion=sha256)
    if columns:
        facets["schema"] = facet("schema", fields=[{"name": c, "type": t} for c, t in columns.items()])
    return {"namespace": namespace, "name": name, "facets": facets}


def run_dataset(namespace: str, run_id: str) -> dict[str, Any]:
    return {"namespace": namespace, "name": f"runs/{run_id}", "facets": {}}


def model_version_name(model: str, version: str) -> str:
    return f"models/{model}/{version}"


def model_version_dataset(namespace: str, model: str, version: str) -> dict[str, Any]:
    return {"namespace": namespace, "name": model_version_name(model, version), "facets": {}}


def _sources(digests: Mapping[str, str] | None) -> list[dict[str, Any]]:
    return [file_dataset(uri, sha) for uri, sha in sorted((digests or {}).items())]


def _records(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


# --- per task -----------------------------------------------------------------------------------


def config_facet(pipeline: str, config_path: str, config_sha256: str, git_commit: str) -> dict[str, Any]:
    return facet(
        "mlcycle_config",
        pipeline=pipeline,
        configPath=config_path,
        configSha256=config_sha256,
        gitCommit=git_commit,
    )


def alias_move_facet(
    *, alias: str, action: str, from_version: str | None, to_version: str, why: str, by: str, via: str
) -> dict[str, Any]:
    return facet(
        "mlcycle_aliasMove",
        alias=alias,
        action=action,
        fromVersion=from_version,
        toVersion=to_version,
        why=why[:1000],
        by=by[:200],
        via=via[:300],
    )


def task_lineage(task: str, records: Mapping[str, Any], mlflow_ns: str) -> TaskLineage:
    """The lineage of ``task`` from its records (its own under ``"out"``, its inputs by name).

    Names: ``snapshot``, ``checks``, ``trained``, ``evaluation``, ``decision``, ``window``,
    ``scored``, ``drift``, ``verdict``, ``action``; unknown tasks get an empty lineage.
    """
    out = _records(records, "out")
    snap, window = _records(records, "snapshot"), _records(records, "window")
    snap_ds = file_dataset(snap["uri"], snap.get("sha256"), snap.get("columns")) if snap else None
    win_ds = file_dataset(window["uri"], window.get("sha256"), window.get("columns")) if window else None
    trained = _records(records, "trained")
    run_ds = run_dataset(mlflow_ns, trained["run_id"]) if trained else None
    builders = {
        "ingest": lambda: TaskLineage(
            _sources(out.get("source_digests")),
            [file_dataset(out["uri"], out.get("sha256"), out.get("columns"))],
        ),
        "check_data": lambda: TaskLineage(
            [snap_ds] if snap_ds else [],
            [file_dataset(out["report_uri"])],
            {
                "mlcycle_dataChecks": facet(
                    "mlcycle_dataChecks", success=bool(out.get("success")), summary=str(out.get("summary"))
                )
            },
        ),
        "train": lambda: TaskLineage(
            [d for d in (snap_ds, _checks_ds(records)) if d], [run_dataset(mlflow_ns, out["run_id"])]
        ),
        "evaluate": lambda: TaskLineage(
            [d for d in (snap_ds, run_ds) if d],
            [file_dataset(out["evaluation_uri"])] if out.get("evaluation_uri") else [],
            {"mlcycle_metrics": _metrics_facet(out)},
        ),
        "validate_model": lambda: TaskLineage(
            [run_ds] if run_ds else [],
            [file_dataset(out["decision_uri"])] if out.get("decision_uri") else [],
            {"mlcycle_gate": _gate_facet(out)},
        ),
        "register_and_promote": lambda: _promotion_lineage(records, out, snap_ds, run_ds, mlflow_ns),
        "load_window": lambda: TaskLineage(
            _sources(out.get("source_digests")),
            [file_dataset(out["uri"], out.get("sha256"), out.get("columns"))],
        ),
        "score": lambda: _score_lineage(out, win_ds, mlflow_ns),
        "detect_drift": lambda: _drift_lineage(records, out, win_ds, mlflow_ns),
        "act": lambda: TaskLineage(
            [file_dataset(str(u)) for u in (_records(records, "verdict").get("decision_uri"),) if u],
            [file_dataset(out["action_uri"])] if out.get("action_uri") else [],
        ),
        "shadow_score": lambda: _shadow_score_lineage(records, out, win_ds, mlflow_ns),
        "shadow_decide": lambda: _shadow_lineage(records, out, mlflow_ns),
        "decide": lambda: TaskLineage(
            [file_dataset(out["report_uri"])],
            [file_dataset(out["decision_uri"])] if out.get("decision_uri") else [],
            {"mlcycle_monitorVerdict": _verdict_facet(out)},
        ),
    }
    build = builders.get(task)
    return build() if build and out else TaskLineage()


def _checks_ds(records: Mapping[str, Any]) -> dict[str, Any] | None:
    checks = _records(records, "checks")
    return file_dataset(checks["report_uri"]) if checks.get("report_uri") else None


def _metrics_facet(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    champion = evaluation.get("champion")
    return facet(
        "mlcycle_metrics",
        primaryMetric=evaluation.get("primary_metric"),
        candidate=dict(evaluation.get("candidate") or {}),
        champion=dict(champion) if isinstance(champion, Mapping) else None,
        holdoutRows=evaluation.get("holdout_rows"),
    )


def _gate_facet(decision: Mapping[str, Any]) -> dict[str, Any]:
    return facet(
        "mlcycle_gate",
        verdict=decision.get("verdict"),
        promote=bool(decision.get("promote")),
        forced=bool(decision.get("forced")),
        reasons=[str(r) for r in decision.get("reasons") or []],
        championVersion=decision.get("champion_version"),
    )


def _promotion_lineage(
    records: Mapping[str, Any],
    out: Mapping[str, Any],
    snap_ds: dict[str, Any] | None,
    run_ds: dict[str, Any] | None,
    mlflow_ns: str,
) -> TaskLineage:
    version = model_version_dataset(mlflow_ns, out["model_name"], out["version"])
    facets: dict[str, dict[str, Any]] = {}
    decision = _records(records, "decision")
    if decision:
        facets["mlcycle_gate"] = _gate_facet(decision)
    alias = CHAMPION if out.get("promoted") else CHALLENGER if _waits(out) else None
    if alias:
        facets["mlcycle_aliasMove"] = alias_move_facet(
            alias=alias,
            action=("force_promote" if decision.get("forced") else "promote")
            if alias == CHAMPION
            else "challenger",
            from_version=out.get("replaced") if alias == CHAMPION else None,
            to_version=str(out["version"]),
            why=str(out.get("why") or ""),
            by=str(records.get("by") or "airflow"),
            via=str(records.get("via") or ""),
        )
    return TaskLineage([d for d in (snap_ds, run_ds) if d], [version], facets)


def _waits(promotion: Mapping[str, Any]) -> bool:
    return bool(promotion.get("in_shadow") or promotion.get("awaiting_approval"))


def _score_lineage(out: Mapping[str, Any], win_ds: dict[str, Any] | None, mlflow_ns: str) -> TaskLineage:
    model = model_version_dataset(mlflow_ns, out["model_name"], out["model_version"])
    serving = facet(
        "mlcycle_serving",
        modelName=out["model_name"],
        modelVersion=str(out["model_version"]),
        servedBy=out.get("served_by"),
        rows=out.get("rows"),
    )
    return TaskLineage(
        [d for d in (win_ds, model) if d],
        [file_dataset(out["predictions_uri"])],
        {"mlcycle_serving": serving},
    )


def _drift_lineage(
    records: Mapping[str, Any], out: Mapping[str, Any], win_ds: dict[str, Any] | None, mlflow_ns: str
) -> TaskLineage:
    scored = _records(records, "scored")
    inputs = [d for d in (win_ds, file_dataset(scored["predictions_uri"]) if scored else None) if d]
    report = _records(out, "report")
    outputs = [file_dataset(str(uri)) for uri in (report.get("html_uri"), out.get("drift_uri")) if uri]
    if out.get("mlflow_run_id"):
        outputs.append(run_dataset(mlflow_ns, str(out["mlflow_run_id"])))
    return TaskLineage(inputs, outputs)


def _verdict_facet(verdict: Mapping[str, Any]) -> dict[str, Any]:
    return facet(
        "mlcycle_monitorVerdict",
        status=verdict.get("status"),
        # a severity where the verdict carries one, else the status stands for it
        severity=verdict.get("severity") or verdict.get("status"),
        reasons=[str(r) for r in verdict.get("reasons") or []],
        windowKey=verdict.get("window_key"),
        modelVersion=verdict.get("model_version"),
        servedBy=verdict.get("served_by"),
    )


def _shadow_lineage(records: Mapping[str, Any], out: Mapping[str, Any], mlflow_ns: str) -> TaskLineage:
    """A shadow promotion moves the champion to the challenger; other outcomes move nothing."""
    model, version = records.get("model"), out.get("challenger_version")
    if out.get("outcome") != "promote" or not model or not version:
        return TaskLineage()
    reasons = [str(r) for r in out.get("reasons") or []]
    move = alias_move_facet(
        alias=CHAMPION,
        action="shadow_promote",
        from_version=out.get("champion_version"),
        to_version=str(version),
        why=reasons[0] if reasons else "won in shadow",
        by=str(records.get("by") or "airflow"),
        via=str(records.get("via") or ""),
    )
    return TaskLineage(
        [], [model_version_dataset(mlflow_ns, str(model), str(version))], {"mlcycle_aliasMove": move}
    )


def _shadow_score_lineage(
    records: Mapping[str, Any], out: Mapping[str, Any], win_ds: dict[str, Any] | None, mlflow_ns: str
) -> TaskLineage:
    model, version = records.get("model"), out.get("challenger_version")
    if not out.get("active") or not model or not version:
        return TaskLineage()
    challenger = model_version_dataset(mlflow_ns, str(model), str(version))
    outputs = [file_dataset(out["predictions_uri"])] if out.get("predictions_uri") else []
    return TaskLineage([d for d in (win_ds, challenger) if d], outputs)
