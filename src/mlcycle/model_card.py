"""A model card per registered version, written from the evidence the training run recorded."""

from __future__ import annotations

from typing import Any

from mlcycle.config import Pipeline

CARD_PATH = "model_card/model_card.md"


def _metrics_line(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()) if v is not None) or "none computed"


def render_model_card(
    pipe: Pipeline,
    version: str,
    snapshot: dict[str, Any],
    checks: dict[str, Any],
    evaluation: dict[str, Any],
    decision: dict[str, Any],
    lineage: dict[str, str],
) -> str:
    """Markdown: intended use, data, checks, metrics overall and per slice, champion comparison,
    gate decision, lineage and known limits. Pure: every fact is passed in."""
    cfg = pipe.config
    card = cfg.model_card
    champion = evaluation.get("champion")
    lines = [
        f"# Model card: {pipe.model_name} v{version}",
        "",
        f"Pipeline `{pipe.name}`; `{cfg.model.estimator}` ({cfg.model.task}) predicting `{cfg.data.target}`.",
        "",
        "## Intended use",
        "",
        card.intended_use.strip() or "_Not stated: set `model_card.intended_use` in the pipeline YAML._",
        "",
        "## Data",
        "",
        f"- Snapshot: `{snapshot['uri']}` (sha256 `{snapshot['sha256']}`)",
        f"- Rows: {snapshot['rows']}; window {snapshot.get('window_start')} .. {snapshot.get('window_end')}",
        f"- Features: {', '.join(cfg.data.features.all)}",
        f"- Holdout: {evaluation.get('holdout_rows')} rows ({cfg.model.split.strategy} split, "
        f"test size {cfg.model.split.test_size})",
        "",
        "## Data checks",
        "",
        f"{'Passed' if checks.get('success') else 'FAILED'}: "
        f"{checks.get('evaluated', 0) - len(checks.get('failures', []))}/{checks.get('evaluated', 0)} "
        f"Great Expectations expectations on {checks.get('rows')} rows.",
        "",
        "## Metrics on the holdout",
        "",
        f"Overall: {_metrics_line(evaluation.get('candidate') or {})}",
        "",
    ]
    slices = evaluation.get("slices") or []
    if slices:
        lines += ["| slice | rows | metrics |", "|---|---|---|"]
        for row in slices:
            shown = row.get("skipped") or _metrics_line(row.get("metrics") or {})
            lines.append(f"| {row['column']} = {row['value']} | {row['rows']} | {shown} |")
        lines.append("")
    lines += ["## Champion comparison", ""]
    if champion:
        lines.append(
            f"Champion v{champion['version']} on the same holdout: "
            + (champion.get("error") or _metrics_line(champion.get("metrics") or {}))
        )
    else:
        lines.append("No champion when this version was evaluated.")
    lines += ["", f"## Gate: {decision['verdict']}" + (" (FORCED)" if decision.get("forced") else ""), ""]
    lines += [f"- {r}" for r in decision.get("reasons", [])]
    lines += ["", "## Lineage", ""]
    lines += [f"- {k}: `{v}`" for k, v in lineage.items()]
    limits = [
        f"Trained on data up to {snapshot.get('window_end')}; behaviour on later populations is "
        "measured by the drift monitor, not guaranteed.",
        *card.known_limitations,
    ]
    small = [f"{r['column']} = {r['value']}" for r in slices if r.get("skipped")]
    if small:
        limits.append(f"Slices too small to evaluate (< {cfg.evaluation.min_slice_size} rows): {', '.join(small)}")
    lines += ["", "## Known limits", "", *[f"- {x}" for x in limits], ""]
    return "\n".join(lines)
