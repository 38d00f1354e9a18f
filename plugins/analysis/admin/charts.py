"""Server-rendered SVG charts for the analysis dashboard (escaped, no scripts, no remote assets):
the retention heat map here; bars come from the sales plugin's chart module."""
from __future__ import annotations

from typing import Any, Sequence

from markupsafe import Markup, escape

from plugins.sales.admin.charts import bar_chart

__all__ = ["bar_chart", "heat_map"]


def _colour(share: float) -> str:
    """White to dark blue as the share goes from 0 to 1."""
    share = max(0.0, min(1.0, share))
    r, g, b = (int(255 - (255 - c) * share) for c in (31, 86, 150))
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_map(rows: Sequence[dict[str, Any]], *, title: str, cell: int = 34) -> Markup:
    """Cohorts down, months since the first purchase across; each cell shaded by retention."""
    width_cells = max((len(r["retention"]) for r in rows), default=0)
    left, top = 70, 22
    width, height = left + cell * max(width_cells, 1) + 8, top + 18 * max(len(rows), 1) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="crm-chart crm-heatmap" '
             f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
             f"<title>{escape(title)}</title>"]
    for k in range(width_cells):
        parts.append(f'<text x="{left + k * cell + cell / 2:.0f}" y="14" font-size="10" text-anchor="middle">M{k}</text>')
    for i, row in enumerate(rows):
        y = top + i * 18
        parts.append(f'<text x="{left - 6}" y="{y + 12}" font-size="10" text-anchor="end">{escape(row["cohort"])}</text>')
        for k, share in enumerate(row["retention"]):
            value = float(share or 0)
            ink = "#fff" if value > 0.55 else "#222"
            parts.append(f'<rect x="{left + k * cell}" y="{y}" width="{cell - 1}" height="17" fill="{_colour(value)}">'
                         f'<title>{escape(row["cohort"])} M{k}: {value:.0%}</title></rect>'
                         f'<text x="{left + k * cell + cell / 2:.0f}" y="{y + 12}" font-size="9" fill="{ink}" '
                         f'text-anchor="middle">{value * 100:.0f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()
