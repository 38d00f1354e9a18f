"""Server-rendered charts for the admin: inline SVG built here, escaped, no scripts, no remote assets."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Sequence

from markupsafe import Markup, escape

COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948")


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float, Decimal)) else 0.0


def bar_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[Any]]], *, title: str,
              width: int = 640, height: int = 240, unit: str = "") -> Markup:
    """Grouped vertical bars: one group per label, one bar per series; a legend and value labels."""
    top, bottom, left, right = 28, 36, 8, 8
    plot_h = height - top - bottom
    groups = max(1, len(labels))
    peak = max([_num(v) for _, values in series for v in values] + [0.0]) or 1.0
    group_w = (width - left - right) / groups
    bar_w = max(4.0, (group_w - 12) / max(1, len(series)))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="crm-chart" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#999"/>']
    for s, (name, _) in enumerate(series):
        x = left + s * 150
        parts.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{COLOURS[s % len(COLOURS)]}"/>'
                     f'<text x="{x + 14}" y="15" font-size="11">{escape(name)}</text>')
    for g, label in enumerate(labels):
        gx = left + g * group_w + 6
        for s, (_, values) in enumerate(series):
            value = _num(values[g]) if g < len(values) else 0.0
            h = plot_h * value / peak if value > 0 else 0
            x = gx + s * bar_w
            y = top + plot_h - h
            shown = escape(f"{value:,.0f}{unit}")
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                         f'fill="{COLOURS[s % len(COLOURS)]}"><title>{escape(label)}: {shown}</title></rect>')
            if h > 0:
                parts.append(f'<text x="{x + (bar_w - 2) / 2:.1f}" y="{y - 3:.1f}" font-size="9" '
                             f'text-anchor="middle">{shown}</text>')
        parts.append(f'<text x="{gx + group_w / 2 - 6:.1f}" y="{height - 18}" font-size="11" '
                     f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def ratio_bar(value: Decimal | None) -> Markup:
    """A Bootstrap progress bar for a ratio (capped at 100 % wide; the text shows the real value)."""
    if value is None:
        return Markup('<span class="text-muted">—</span>')
    pct = float(value) * 100
    kind = "success" if pct >= 90 else "warning" if pct >= 60 else "danger"
    width = max(0.0, min(100.0, pct))
    return Markup('<div class="progress" style="height: 1.1rem"><div class="progress-bar bg-{}" role="progressbar" '
                  'style="width: {:.1f}%" aria-valuenow="{:.1f}" aria-valuemin="0" aria-valuemax="100">{:.1f}%'
                  '</div></div>').format(kind, width, pct, pct)
