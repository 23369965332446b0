"""Drift of a scored window against the champion's reference, and Evidently's report on a sample."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.adapters.sources import load_snapshot
from mlcycle.core.names import Record, Tag
from mlcycle.core.records import DriftResult, Scored, Window
from mlcycle.core.scoring import (
    FALLBACK,
    MODEL_PREDICTION,
    PREDICTION,
    PROBABILITY,
    drift_column,
)
from mlcycle.steps.context import Env
from mlcycle.steps.reference import load_reference

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def detect_drift(env: Env, window: Window, scored: Scored) -> DriftResult:
    """Full-data drift verdicts, the domain classifier, and Evidently's report on a sample."""
    from mlcycle.adapters.model_files import load_sklearn_model
    from mlcycle.adapters.registry import VersionRef
    from mlcycle.adapters.reports import evidently_report
    from mlcycle.core.drift import dataset_drift, domain_classifier, domain_threshold, sample

    pipe = env.pipe
    feats = pipe.config.data.features
    cfg = pipe.config.monitoring.drift
    columns = cfg.columns or feats.all
    numeric = [c for c in feats.numeric if c in columns]
    categorical = [c for c in feats.categorical if c in columns]
    champion = VersionRef(pipe.model_name, scored.model_version, scored.model_run_id)
    output = MODEL_PREDICTION if drift_column(pipe) == PREDICTION else PROBABILITY
    binary = pipe.config.model.task == "binary_classification"
    extra = [MODEL_PREDICTION] if binary and output != MODEL_PREDICTION else []
    current = load_snapshot(env.store, scored.predictions_key, columns=[*columns, output, *extra])
    current = current.rename(columns={output: PREDICTION})  # the reference names it so too
    by_fallback = scored.served_by == FALLBACK  # a heuristic's outputs are not the champion's drift
    profile, ref_sample, ref_origin = load_reference(
        env, champion, lambda: load_sklearn_model(champion.uri, env.registry.version_tags(champion.version))
    )

    measured = dataset_drift(
        profile,
        current,
        columns,
        cfg.column_threshold,
        cfg.share_threshold,
        predictions=current[PREDICTION] if cfg.prediction_drift and not by_fallback else None,
    )
    domain = None
    if cfg.domain_classifier:
        baseline = profile.get("domain_baseline")
        threshold, basis = domain_threshold(baseline, cfg.domain_auc_threshold, cfg.domain_auc_margin)
        domain = {
            **domain_classifier(
                ref_sample, current, numeric, categorical, cfg.domain_sample_rows, threshold, cfg.seed
            ).to_dict(),
            "threshold_basis": basis,
            "baseline": baseline,
        }
    estimated = window_estimate(pipe, profile, current, by_fallback) if binary else None
    # Evidently's own dataset verdict counts the features only, as ours does: prediction drift is ours
    rep_num, rep_cat = numeric, categorical
    cur_sample = sample(current, cfg.report_sample_rows, cfg.seed)
    ref_rep = sample(ref_sample, cfg.report_sample_rows, cfg.seed)
    with tempfile.TemporaryDirectory(prefix="mlcycle-drift-") as tmp:
        html = Path(tmp) / "drift_report.html"
        report = evidently_report(
            ref_rep, cur_sample, rep_num, rep_cat, str(html), cfg.column_threshold, cfg.share_threshold
        )
        html_uri = env.store.publish_file(html, env.record_key(Record.DRIFT_REPORT_HTML))
        json_uri = env.publish_json(Record.DRIFT_REPORT, report)
        record = {
            "window_key": window.window_key,
            "window_start": window.window_start,
            "window_end": window.window_end,
            "rows": len(current),
            "model_version": champion.version,
            "reference": {"rows": profile["rows"], "origin": ref_origin},
            "dataset": measured.to_dict(),
            "domain_classifier": domain,
            "report": {
                "html_uri": html_uri,
                "json_uri": json_uri,
                "current_sample_rows": len(cur_sample),
                "reference_sample_rows": len(ref_rep),
                "note": "Evidently's report is computed on these samples; the verdicts above on every row",
            },
        }
        result = DriftResult(
            **record,
            estimated_quality=estimated,
            mlflow_run_id=_log_monitoring_run(env, record, html, report, scored, estimated),
        )
    result = result.model_copy(update={"drift_uri": env.publish_record(result)})
    log.info(
        "drift: share %.2f (%s), domain AUC %s, report %s",
        measured.share,
        ", ".join(measured.drifted_columns) or "no column drifted",
        domain["auc"] if domain else "n/a",
        html_uri,
    )
    return result


def window_estimate(
    pipe: Any, profile: dict[str, Any], current: pd.DataFrame, by_fallback: bool
) -> dict[str, Any]:
    """The champion's label-free quality on the window (CBPE), from the calibration stored with it."""
    from mlcycle.core.performance import estimate_performance

    perf = profile.get("performance")
    if not pipe.config.monitoring.quality.estimate:
        return {"skipped": "monitoring.quality.estimate is false"}
    if by_fallback:
        return {"skipped": "scored by the fallback: the champion's quality is not estimated"}
    if not perf:
        return {"skipped": "no calibration stored with the champion (trained before estimates existed)"}
    predicted = current[MODEL_PREDICTION].to_numpy() == perf["positive"]
    return {
        "method": "CBPE",
        "rows": len(current),
        "metrics": estimate_performance(current[PREDICTION].to_numpy(), predicted, perf),
        "reference": perf.get("validation", {}),
        "calibrator": perf["calibrator"]["method"],
    }


def _log_monitoring_run(
    env: Env,
    record: dict[str, Any],
    html: Any,
    report: dict[str, Any],
    scored: Scored,
    estimated: dict[str, Any] | None,
) -> str:
    pipe = env.pipe
    exp = env.tracking.experiment_id(pipe.name, "monitoring")
    metrics: dict[str, float] = {"drift_share": record["dataset"]["share"], "rows": float(record["rows"])}
    for col in record["dataset"]["columns"]:
        if col["score"] is not None:
            metrics[f"drift_{col['column']}"] = col["score"]
    pred = record["dataset"].get("prediction")
    if pred and pred["score"] is not None:
        metrics["drift_prediction"] = pred["score"]
    if record["domain_classifier"]:
        metrics["domain_auc"] = record["domain_classifier"]["auc"]
    quality = scored.quality or {}
    for k, v in (quality.get("metrics") or {}).items():
        if v is not None:
            metrics[f"window_{k}"] = v
    for k, v in ((estimated or {}).get("metrics") or {}).items():
        if v.get("value") is not None:
            metrics[f"estimated_{k}"] = v["value"]
    tags = {
        Tag.PIPELINE: pipe.name,
        Tag.WINDOW: record["window_key"],
        Tag.MODEL_VERSION: str(record["model_version"]),
        Tag.PREDICTIONS_URI: scored.predictions_uri,
        Tag.SERVED_BY: scored.served_by,
        **env.ctx.tags(),
    }
    fallback = scored.fallback
    if fallback.get("used"):
        tags[Tag.FALLBACK_REASON] = str(fallback.get("reason"))[:4000]
    with env.tracking.run(experiment_id=exp, run_name=f"{record['window_key']}", tags=tags) as run:
        run.log_metrics(metrics)
        run.log_artifact(html, "drift")
        run.log_dict(report, "drift/drift_report.json")
        run.log_dict({k: v for k, v in record.items() if k != "report"}, "drift/drift.json")
        return run.run_id
