"""A model card per registered version, written from the evidence the training run recorded."""

from __future__ import annotations

import html
import re
from typing import Any

from mlcycle.config.catalogs import LOWER_IS_BETTER
from mlcycle.config.loader import Pipeline

# Markdown syntax a data value could carry into the card (a category named "[x](http://…)" or "a|b")
_MD_SPECIAL = re.compile(r"([\\`*\[\]<|])")  # "<" alone stops autolinks


def md(value: Any) -> str:
    """A value as literal Markdown text: punctuation that would format, link or split a table escaped."""
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def _metrics_line(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()) if v is not None) or "none computed"


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _slice_rows(evaluation: dict[str, Any], decision: dict[str, Any]) -> list[str]:
    slices = evaluation.get("slices") or []
    if not slices:
        return []
    outcome = {(c["column"], c["value"]): c["status"] for c in decision.get("slices") or []}
    gated = bool(outcome)
    lines = [
        "| slice | rows | metrics | champion on the slice | slice gate |",
        "|---|---|---|---|---|",
    ]
    for row in slices:
        shown = row.get("skipped") or _metrics_line(row.get("metrics") or {})
        champ = row.get("champion_metrics")
        status = outcome.get((row["column"], row["value"]), "skipped" if gated else "not gated")
        lines.append(
            f"| {md(row['column'])} = {md(row['value'])} | {row['rows']} | {shown} | "
            f"{_metrics_line(champ) if champ else '-'} | {status} |"
        )
    return [*lines, ""]


def _champion_section(evaluation: dict[str, Any]) -> list[str]:
    champion = evaluation.get("champion")
    lines = ["## Champion comparison", ""]
    if not champion:
        return [*lines, "No champion when this version was evaluated.", ""]
    if champion.get("error"):
        return [*lines, f"Champion v{champion['version']} on the same holdout: {md(champion['error'])}", ""]
    metrics = champion.get("metrics") or {}
    candidate = evaluation.get("candidate") or {}
    lines += [
        f"Champion v{champion['version']} on the same holdout: {_metrics_line(metrics)}",
        "",
        f"| metric | candidate | champion v{champion['version']} | change (+ is better) |",
        "|---|---|---|---|",
    ]
    for metric in sorted(set(candidate) | set(metrics)):
        c, h = candidate.get(metric), metrics.get(metric)
        change = (
            "n/a" if c is None or h is None else f"{(h - c if metric in LOWER_IS_BETTER else c - h):+.4f}"
        )
        lines.append(f"| {metric} | {_num(c)} | {_num(h)} | {change} |")
    return [*lines, ""]


def _slice_gate_section(pipe: Pipeline, decision: dict[str, Any]) -> list[str]:
    gate = pipe.config.evaluation.slice_gate
    lines = ["## Slice gate", ""]
    if gate is None:
        return [
            *lines,
            "Not configured: per-slice metrics are reported, not gated (`evaluation.slice_gate`).",
            "",
        ]
    lines.append(
        f"Each slice with >= {pipe.config.evaluation.min_slice_size} holdout rows: "
        f"{', '.join(pipe.config.evaluation.slice_gate_metrics)} no more than {gate.max_regression} worse than "
        "the champion on the same rows"
        + (
            f"; floors {', '.join(f'{k} {v}' for k, v in sorted(gate.thresholds.items()))}"
            if gate.thresholds
            else ""
        )
        + "."
    )
    lines.append("")
    for check in decision.get("slices") or []:
        for reason in check["reasons"]:
            lines.append(f"- **{check['status']}** {md(reason)}")
    return [*lines, ""]


def _fairness_section(pipe: Pipeline, evaluation: dict[str, Any], decision: dict[str, Any]) -> list[str]:
    cfg = pipe.config.evaluation.fairness
    lines = ["## Fairness", ""]
    if cfg is None:
        return [*lines, "Not configured (`evaluation.fairness`).", ""]
    report = evaluation.get("fairness") or {}
    outcome = decision.get("fairness") or {}
    feature = "a model feature" if cfg.sensitive in pipe.config.data.features.all else "not a model feature"
    lines += [
        f"`{md(cfg.metric)}` across the values of `{md(cfg.sensitive)}` ({feature}) on the holdout; "
        f"threshold {cfg.threshold}; {'a gate' if cfg.gate else 'reported, not a gate'}.",
        "",
        f"- Candidate: {_num(report.get('value'))}"
        + (
            f"; champion on the same holdout: {_num(report['champion_value'])}"
            if "champion_value" in report
            else ""
        ),
        f"- Verdict: **{outcome.get('status', 'not evaluated')}**: {md(outcome.get('reason', ''))}",
        "",
        "| group | rows | actual positives | positive rate | recall | false positive rate |",
        "|---|---|---|---|---|---|",
    ]
    for g in report.get("groups") or []:
        rates = (
            g["skipped"]
            if g.get("skipped")
            else " | ".join(_num(g.get(k)) for k in ("positive_rate", "recall", "false_positive_rate"))
        )
        lines.append(f"| {md(cfg.sensitive)} = {md(g['value'])} | {g['rows']} | {g['positives']} | {rates} |")
    return [*lines, ""]


def _evidence_section(ev: dict[str, Any] | None) -> list[str]:
    if not ev:
        return []
    lines = ["## Evidence on the holdout", ""]
    if "base_rate" in ev:
        lines += [
            f"- Base rate (share of `{md(ev['positive_class'])}`): {_num(ev['base_rate'])}; predicted positive "
            f"rate {_num(ev['predicted_positive_rate'])}",
            f"- Decision threshold: {_num(ev['decision_threshold'])} ({md(ev['decision_rule'])})",
            f"- Brier score: {_num(ev['brier'])}; average precision: {_num(ev['average_precision'])} "
            "(the calibration and precision-recall curves are drawn in the HTML card)",
        ]
    ranked = ev.get("permutation_importance") or []
    if ranked:
        lines += [
            "",
            f"Permutation importance ({md(ev['importance_scoring'])} lost when a feature is shuffled, "
            f"{ev['importance_rows']} holdout rows, 3 repeats):",
            "",
            "| feature | drop | std |",
            "|---|---|---|",
            *[f"| {md(r['feature'])} | {_num(r['drop'])} | {_num(r['std'])} |" for r in ranked[:15]],
        ]
    elif ev.get("permutation_importance_skipped"):
        lines.append(f"- Permutation importance not computed: {md(ev['permutation_importance_skipped'])}")
    return [*lines, ""]


def evidence_figures(evaluation: dict[str, Any]) -> list[str]:
    """Inline SVG charts of the card's evidence: calibration curve and precision-recall curve."""
    from mlcycle.core.svg import Series, line_chart

    ev = evaluation.get("evidence") or {}
    out: list[str] = []
    cal = ev.get("calibration_curve")
    if cal:
        points = list(zip(cal["predicted"], cal["observed"], strict=True))
        out.append(
            line_chart(
                [
                    Series("model", "#1565c0", points),
                    Series("perfectly calibrated", "#999", [(0, 0), (1, 1)], True),
                ],
                f"Calibration (Brier {ev['brier']:.4f})",
                "mean predicted probability",
                "observed",
                bounds=(0, 1, 0, 1),
            )
        )
    pr = ev.get("pr_curve")
    if pr:
        base = ev["base_rate"]
        out.append(
            line_chart(
                [
                    Series("model", "#2e7d32", list(zip(pr["recall"], pr["precision"], strict=True))),
                    Series(f"base rate {base:.3f}", "#999", [(0, base), (1, base)], True),
                ],
                f"Precision-recall (AP {ev['average_precision']:.4f})",
                "recall",
                "precision",
                bounds=(0, 1, 0, 1),
            )
        )
    return out


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
    slice gate, fairness, gate decision, lineage and known limits. Pure: every fact is passed in."""
    cfg = pipe.config
    card = cfg.model_card
    lines = [
        f"# Model card: {md(pipe.model_name)} v{version}",
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
        *_slice_rows(evaluation, decision),
        *_champion_section(evaluation),
        *_slice_gate_section(pipe, decision),
        *_fairness_section(pipe, evaluation, decision),
    ]
    lines += _evidence_section(evaluation.get("evidence"))
    lines += [f"## Gate: {decision['verdict']}" + (" (FORCED)" if decision.get("forced") else ""), ""]
    lines += [f"- {md(r)}" for r in decision.get("reasons", [])]
    lines += ["", "## Lineage", ""]
    lines += [f"- {k}: `{v}`" for k, v in lineage.items()]
    limits = [
        f"Trained on data up to {snapshot.get('window_end')}; behaviour on later populations is "
        "measured by the drift monitor, not guaranteed.",
        *card.known_limitations,
    ]
    small = [
        f"{md(r['column'])} = {md(r['value'])}" for r in evaluation.get("slices") or [] if r.get("skipped")
    ]
    if small:
        limits.append(
            f"Slices too small to evaluate (< {cfg.evaluation.min_slice_size} rows): {', '.join(small)}"
        )
    lines += ["", "## Known limits", "", *[f"- {x}" for x in limits], ""]
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:1.5rem auto;padding:0 1rem;line-height:1.45}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .6rem;text-align:left}"
    "code{font-size:.9em;background:#f4f4f4;padding:0 .2rem}"
)


def render_model_card_html(markdown_card: str, title: str, figures: list[str] | None = None) -> str:
    """The Markdown card as a standalone HTML page (raw HTML in the Markdown is escaped, not passed), with
    ``figures`` (inline SVG built by mlcycle, not from the Markdown) after it."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("js-default").render(markdown_card)  # js-default: html off, tables on
    plots = "".join(f"<figure>{svg}</figure>" for svg in figures or [])
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}{'<h2>Plots on the holdout</h2>' + plots if plots else ''}</body></html>"
    )
