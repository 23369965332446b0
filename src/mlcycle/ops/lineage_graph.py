"""A model version's chain rebuilt from OpenLineage events alone: source files -> snapshot -> data
checks -> MLflow run -> gate -> model version -> every alias move, and the windows it served."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlcycle.adapters.lineage_events import parse_event, read_event_dicts
from mlcycle.core.lineage import model_version_name
from mlcycle.errors import MlcycleError


def load_events(path: Path) -> list[dict[str, Any]]:
    """The completed task events of ``path``, each checked by parsing it into the client's classes."""
    events = []
    for data in read_event_dicts(path):
        try:
            parse_event(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise MlcycleError(
                f"{path}: event {data.get('run', {}).get('runId')}: not OpenLineage: {exc}"
            ) from exc
        if data.get("eventType") == "COMPLETE":
            events.append(data)
    return sorted(events, key=lambda e: e["eventTime"])


def _key(ds: Mapping[str, Any]) -> tuple[str, str]:
    return ds["namespace"], ds["name"]


def _version(ds: Mapping[str, Any]) -> str | None:
    return (ds.get("facets") or {}).get("version", {}).get("datasetVersion")


def _uri(ds: Mapping[str, Any]) -> str:
    ns, name = _key(ds)
    return name if ns == "file" else f"{ns.rstrip('/')}/{name}"


def _facet(event: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    return (event["run"].get("facets") or {}).get(key)


def _where(event: Mapping[str, Any]) -> str:
    run = (_facet(event, "airflow") or {}).get("dagRun") or {}
    return f"{event['job']['name']} (run {run.get('run_id', event['run']['runId'])})"


def _producer_of(events: list[dict[str, Any]], ds: tuple[str, str], before: str) -> dict[str, Any] | None:
    found = [
        e for e in events if e["eventTime"] <= before and any(_key(o) == ds for o in e.get("outputs") or [])
    ]
    return found[-1] if found else None


def _reader_with(
    events: list[dict[str, Any]], ds: tuple[str, str], facet: str, before: str
) -> dict[str, Any] | None:
    found = [
        e
        for e in events
        if e["eventTime"] <= before and _facet(e, facet) and any(_key(i) == ds for i in e.get("inputs") or [])
    ]
    return found[-1] if found else None


def version_graph(events: list[dict[str, Any]], model: str, version: str) -> dict[str, Any]:
    """What the events say about ``model`` v``version``; raises when no event registered it."""
    name = model_version_name(model, str(version))
    registered = [
        e
        for e in events
        if any(o["name"] == name for o in e.get("outputs") or []) and _facet(e, "mlcycle_gate")
    ]
    if not registered:
        raise MlcycleError(
            f"no OpenLineage event registered {name}: it was trained before lineage was on, or its events "
            "went to another transport (HTTP); `mlcycle lineage` without --graph answers from MLflow"
        )
    reg = registered[0]
    at = reg["eventTime"]
    model_ns = next(o["namespace"] for o in reg["outputs"] if o["name"] == name)
    runs = [i for i in reg.get("inputs") or [] if i["namespace"] == model_ns]
    snaps = [i for i in reg.get("inputs") or [] if i["namespace"] != model_ns]
    out: dict[str, Any] = {
        "model": model,
        "version": str(version),
        "model_version": f"{model_ns}/{name}",
        "registered_by": _where(reg),
        "gate": _facet(reg, "mlcycle_gate"),
        "config": _facet(reg, "mlcycle_config"),
        "mlflow_run": runs[0]["name"].removeprefix("runs/") if runs else None,
        "snapshot": None,
        "sources": [],
        "data_checks": None,
    }
    if snaps:
        snap = snaps[0]
        out["snapshot"] = {"uri": _uri(snap), "sha256": _version(snap)}
        ingest = _producer_of(events, _key(snap), at)
        if ingest:
            out["snapshot"]["by"] = _where(ingest)
            out["sources"] = [{"uri": _uri(i), "sha256": _version(i)} for i in ingest.get("inputs") or []]
        checks = _reader_with(events, _key(snap), "mlcycle_dataChecks", at)
        if checks:
            out["data_checks"] = {**(_facet(checks, "mlcycle_dataChecks") or {}), "by": _where(checks)}
    out["moves"] = [
        {**_public(move), "at": e["eventTime"], "recorded_by": _where(e)}
        for e in events
        if (move := _facet(e, "mlcycle_aliasMove"))
        and str(version) in (move.get("toVersion"), move.get("fromVersion"))
        and any(
            o["name"] == model_version_name(model, str(move.get("toVersion"))) for o in e.get("outputs") or []
        )
    ]
    out["served"] = [
        {**_public(_facet(e, "mlcycle_serving") or {}), "at": e["eventTime"], "by": _where(e)}
        for e in events
        if _facet(e, "mlcycle_serving") and any(i["name"] == name for i in e.get("inputs") or [])
    ]
    return out


def _public(facet: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in facet.items() if not k.startswith("_")}


def render_graph(g: Mapping[str, Any], source: Path) -> str:
    gate, config, checks = g["gate"] or {}, g["config"] or {}, g["data_checks"]
    lines = [f"{g['model']} v{g['version']}, from the OpenLineage events in {source}"]
    lines.append("  source files:")
    lines.extend(f"    {s['uri']}  sha256 {s['sha256']}" for s in g["sources"])
    if not g["sources"]:
        lines.append("    (no ingest event read them)")
    snap = g["snapshot"] or {}
    lines.append(
        f"  -> snapshot      {snap.get('uri')}  sha256 {snap.get('sha256')}  [{snap.get('by', '?')}]"
    )
    if checks:
        verdict = "passed" if checks.get("success") else "FAILED"
        lines.append(f"  -> data checks   {verdict}: {checks.get('summary')}  [{checks['by']}]")
    lines.append(
        f"  -> MLflow run    {g['mlflow_run']}  (config sha256 {config.get('configSha256')}, "
        f"git {config.get('gitCommit')})"
    )
    lines.append(f"  -> gate          {gate.get('verdict')}" + (" (forced)" if gate.get("forced") else ""))
    lines.extend(f"       - {r}" for r in gate.get("reasons") or [])
    lines.append(f"  -> model version {g['model_version']}  [{g['registered_by']}]")
    lines.append(f"  alias moves ({len(g['moves'])}):")
    for m in g["moves"]:
        lines.append(
            f"    {m['at']}  {m['action']}  {m['alias']}: v{m.get('fromVersion') or '-'} -> v{m['toVersion']}"
        )
        lines.append(f"        why: {m['why']}; by {m['by']} via {m['via']}")
    lines.append(f"  windows served: {len(g['served'])}")
    lines.extend(f"    {s['at']}  served by {s.get('servedBy')}  [{s['by']}]" for s in g["served"])
    return "\n".join(lines)
