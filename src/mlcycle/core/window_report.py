"""The window's report: one self-contained HTML page that opens with the verdict and why."""

from __future__ import annotations

from html import escape
from typing import Any

from mlcycle.core.svg import Series, line_chart

_COLOURS = {"ok": "#2e7d32", "drift": "#8d6e00", "at_risk": "#e65100", "degraded": "#c62828"}
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
    "text-align:left}th{background:#f4f4f4}.fired{font-weight:bold;color:#c62828}"
    ".verdict{font-size:1.4em;padding:.4em .8em;color:#fff;display:inline-block;border-radius:4px}"
    "small{color:#666}"
)


def _num(value: Any, digits: int = 4) -> str:
    return (
        "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else escape(str(value))
    )


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def quality_svg(history: list[dict[str, Any]], metric: str) -> str:
    """Estimated (with its band) and realized ``metric`` over the recent windows, as inline SVG."""
    points = [h for h in history if h.get("estimated") is not None or h.get("realized") is not None]
    if not points:
        return f"<p><small>No realized or estimated {escape(metric)} recorded yet.</small></p>"
    est = [(float(i), h["estimated"]) for i, h in enumerate(points) if h.get("estimated") is not None]
    bands = [
        (float(i), h["band"][0], h["band"][1])
        for i, h in enumerate(points)
        if len(h.get("band") or []) == 2 and None not in h["band"]
    ]
    real = [(float(i), h["realized"]) for i, h in enumerate(points) if h.get("realized") is not None]
    return line_chart(
        [
            Series("estimated (band)", "#1565c0", est, dashed=True, bands=bands),
            Series("realized", "#2e7d32", real),
        ],
        f"{metric} per window",
        x_ticks=[(float(i), str(h.get("label", ""))) for i, h in enumerate(points)],
    )


def render_window_report(
    pipeline: str,
    verdict: dict[str, Any],
    drift: dict[str, Any],
    history: list[dict[str, Any]],
    evidently_link: str | None,
) -> str:
    """The page: verdict and the signals behind it, quality over recent windows, per-column drift, the
    domain classifier's drivers, then Evidently's report (linked, labelled as a second opinion)."""
    status = str(verdict["status"])
    metric = verdict.get("primary_metric") or "quality"
    signals = verdict.get("signals") or []
    lead = [s for s in signals if s.get("fired")]
    why = escape(lead[0]["text"]) if lead else "no signal crossed its threshold"
    signal_rows = [
        [
            escape(s["name"]),
            _num(s.get("value")),
            _num(s.get("threshold")),
            '<span class="fired">fired</span>' if s.get("fired") else "no",
            escape(s["text"]),
        ]
        for s in signals
    ]
    dataset = drift.get("dataset") or {}
    col_rows = [
        [escape(str(c["column"])), escape(str(c["method"])), _num(c.get("score"), 3), _num(c.get("threshold"), 3),
         '<span class="fired">drifted</span>' if c.get("drifted") else "no"]
        for c in dataset.get("columns") or []
    ]  # fmt: skip
    domain = drift.get("domain_classifier") or {}
    drivers = [[escape(str(d["feature"])), _num(d.get("auc_drop"))] for d in domain.get("drivers") or []]
    evid = (
        f'<p><a href="{escape(evidently_link, quote=True)}">Evidently\'s DataDriftPreset report</a> '
        f"on a sample of the window. It is a second opinion on the feature distributions only: its own "
        f"&ldquo;dataset drift&rdquo; line counts drifted feature columns (the prediction column is left "
        f"out, as here) and knows nothing of the model's quality or of the domain classifier, so it does "
        f"not decide this window's verdict.</p>"
        if evidently_link
        else ""
    )
    colour = _COLOURS.get(status, "#555")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(pipeline)}: window {escape(str(verdict['window_key']))} — {escape(status)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{escape(pipeline)}: window {escape(str(verdict['window_start']))} .. "
        f"{escape(str(verdict['window_end']))}</h1>"
        f'<p><span class="verdict" style="background:{colour}">{escape(status)}</span> '
        f"champion v{escape(str(verdict['model_version']))}</p>"
        f"<p><b>Why:</b> {why}</p>"
        "<h2>Signals</h2>"
        + _table(["signal", "value", "threshold", "fired", "detail"], signal_rows)
        + f"<h2>{escape(metric)}: estimated and realized, recent windows</h2>"
        + quality_svg(history, metric)
        + "<p><small>Estimated: confidence-based (CBPE) from the champion's calibrated probabilities, "
        "no labels needed; it assumes the relation between features and label is unchanged and cannot "
        "see concept drift. Realized: on the window's labels.</small></p>"
        + f"<h2>Feature drift (share {_num(dataset.get('share'), 2)}, dataset drift at &ge; "
        f"{_num(dataset.get('share_threshold'), 2)})</h2>"
        + _table(["column", "method", "score", "threshold", "drifted"], col_rows)
        + f"<h2>Domain classifier (ROC AUC {_num(domain.get('auc'), 3)}, threshold "
        f"{_num(domain.get('threshold'), 3)})</h2>"
        + f"<p><small>{escape(str(domain.get('threshold_basis') or ''))}</small></p>"
        + (
            _table(["driver", "AUC drop when permuted"], drivers)
            if drivers
            else "<p>No drivers: it did not fire.</p>"
        )
        + "<h2>Evidently</h2>"
        + evid
        + "</body></html>"
    )
