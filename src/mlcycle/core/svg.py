"""Small inline SVG line charts for self-contained HTML pages (the window report, the model card)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape


@dataclass(frozen=True)
class Series:
    """One line: its label, colour and points ``(x, y)``; ``bands`` draws a vertical bar per x."""

    label: str
    colour: str
    points: list[tuple[float, float]]
    dashed: bool = False
    bands: list[tuple[float, float, float]] = field(default_factory=list)  # (x, low, high)


def line_chart(
    series: list[Series],
    title: str,
    x_label: str = "",
    y_label: str = "",
    x_ticks: list[tuple[float, str]] | None = None,
    width: int = 560,
    height: int = 240,
    bounds: tuple[float, float, float, float] | None = None,
) -> str:
    """An SVG chart of ``series``; ``bounds`` fixes ``(x0, x1, y0, y1)``, else they fit the data."""
    xs = [x for s in series for x, _ in s.points] or [0.0, 1.0]
    ys = [y for s in series for _, y in s.points] + [
        v for s in series for _, lo, hi in s.bands for v in (lo, hi)
    ]
    ys = ys or [0.0, 1.0]
    if bounds is None:
        pad = max((max(ys) - min(ys)) * 0.1, 0.01)
        bounds = (min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1, min(ys) - pad, max(ys) + pad)
    x0, x1, y0, y1 = bounds
    left, right, top, bottom = 48, width - 12, 28, height - 34

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(y: float) -> float:
        return bottom - (y - y0) / (y1 - y0) * (bottom - top)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title, quote=True)}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#999"/>',
        f'<text x="4" y="{top + 4}">{y1:.3g}</text><text x="4" y="{bottom}">{y0:.3g}</text>',
        f'<text x="{(left + right) / 2:.0f}" y="{height - 4}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="4" y="{(top + bottom) / 2:.0f}">{escape(y_label)}</text>',
    ]
    for x, label in x_ticks or []:
        out.append(
            f'<text x="{px(x):.1f}" y="{bottom + 13}" text-anchor="middle" font-size="9">{escape(label)}</text>'
        )
    for i, s in enumerate(series):
        for x, lo, hi in s.bands:
            out.append(
                f'<line x1="{px(x):.1f}" y1="{py(lo):.1f}" x2="{px(x):.1f}" y2="{py(hi):.1f}" '
                f'stroke="{s.colour}" stroke-width="5" opacity=".25"/>'
            )
        if len(s.points) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
            dash = ' stroke-dasharray="5 3"' if s.dashed else ""
            out.append(f'<polyline fill="none" stroke="{s.colour}"{dash} points="{path}"/>')
        for x, y in s.points if len(s.points) <= 40 else []:
            out.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{s.colour}">'
                f"<title>{escape(s.label)}: {y:.4f}</title></circle>"
            )
        out.append(
            f'<text x="{right - 150}" y="{top + 12 * (i + 1)}" fill="{s.colour}">{escape(s.label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
