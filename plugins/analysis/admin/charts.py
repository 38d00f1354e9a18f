"""Server-rendered SVG charts for the analysis dashboard (escaped, no scripts, no remote assets):
the retention heat map here; bars come from the sales plugin's chart module."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from markupsafe import Markup, escape

from plugins.sales.admin.charts import bar_chart

__all__ = ["bar_chart", "bubble_map", "forecast_chart", "heat_map"]


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


def forecast_chart(months: Sequence[str], history: Sequence[float], forecast: dict[str, Any] | None, *,
                   title: str, history_label: str, forecast_label: str, interval_label: str,
                   width: int = 640, height: int = 220) -> Markup:
    """History as a solid line, the forecast as a dashed line in its shaded prediction interval; months
    along the bottom (every few labelled), the value axis from zero."""
    fc_months = list(forecast["months"]) if forecast else []
    labels = [m[:7] for m in [*months, *fc_months]]
    top_value = max([*history, *(forecast["upper"] if forecast else [])], default=0.0) or 1.0
    left, right, top, bottom = 56, 10, 22, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + plot_h * (1 - float(v) / top_value)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="crm-chart crm-forecast" '
             f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
             f"<title>{escape(title)}</title>"]
    for k in range(5):  # value grid
        v = top_value * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e5e5e5"/>'
                     f'<text x="{left - 4}" y="{y(v) + 3:.1f}" font-size="9" text-anchor="end">{v:,.0f}</text>')
    every = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 10}" font-size="9" text-anchor="middle">'
                         f"{escape(label)}</text>")
    n = len(history)
    if forecast and fc_months:
        upper = [(x(n + i), y(v)) for i, v in enumerate(forecast["upper"])]
        lower = [(x(n + i), y(v)) for i, v in enumerate(forecast["lower"])][::-1]
        if n:
            upper.insert(0, (x(n - 1), y(history[-1])))
            lower.append((x(n - 1), y(history[-1])))
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in upper + lower)
        parts.append(f'<polygon points="{points}" fill="#1f5696" fill-opacity="0.15">'
                     f"<title>{escape(interval_label)}</title></polygon>")
        line = ([(x(n - 1), y(history[-1]))] if n else []) + [(x(n + i), y(v)) for i, v in enumerate(forecast["mean"])]
        parts.append(f'<polyline points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in line)}" fill="none" '
                     f'stroke="#c0392b" stroke-width="2" stroke-dasharray="5,3"><title>{escape(forecast_label)}'
                     f"</title></polyline>")
    if n:
        parts.append(f'<polyline points="{" ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(history))}" '
                     f'fill="none" stroke="#1f5696" stroke-width="2"><title>{escape(history_label)}</title></polyline>')
    legend = [(history_label, "#1f5696", ""), (forecast_label, "#c0392b", ' stroke-dasharray="5,3"')]
    for i, (label, colour, dash) in enumerate(legend):
        lx = left + 8 + i * 170
        parts.append(f'<line x1="{lx}" x2="{lx + 18}" y1="10" y2="10" stroke="{colour}" stroke-width="2"{dash}/>'
                     f'<text x="{lx + 22}" y="13" font-size="10">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape(); numbers are formatted


def bubble_map(rows: Sequence[dict[str, Any]], *, title: str, value_text: Callable[[int], str], width: int = 640,
               height: int = 460) -> Markup:
    """Places as circles at their seat's longitude and latitude (China's extent, equirectangular), the area
    proportional to the number of customers; the ten largest named. No borders: the map needs no outline
    data, only the coordinates the division list carries."""
    west, east, south, north = 73.0, 135.5, 17.5, 54.0
    placed = [r for r in rows if r.get("lon") is not None and r.get("lat") is not None and r["customers"]]
    peak = max((r["customers"] for r in placed), default=1)

    def x(lon: float) -> float:
        return 10 + (lon - west) / (east - west) * (width - 20)

    def y(lat: float) -> float:
        return 10 + (north - lat) / (north - south) * (height - 20)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="crm-chart crm-bubble-map" '
             f'viewBox="0 0 {width} {height}" width="100%" style="max-width: {width}px" '
             f'preserveAspectRatio="xMinYMin meet">'
             f'<title>{escape(title)}</title><rect x="0" y="0" width="{width}" height="{height}" fill="#f7f9fc"/>']
    named = {id(r) for r in sorted(placed, key=lambda r: -r["customers"])[:10]}
    for r in sorted(placed, key=lambda r: -r["customers"]):  # big ones first, small ones drawn on top
        radius = 3 + 22 * (r["customers"] / peak) ** 0.5
        cx, cy = x(r["lon"]), y(r["lat"])
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" fill="#1f5696" fill-opacity="0.45" '
                     f'stroke="#1f5696"><title>{escape(r["label"])}: {escape(value_text(r["customers"]))}'
                     f"</title></circle>")
        if id(r) in named:
            parts.append(f'<text x="{cx:.1f}" y="{cy - radius - 2:.1f}" font-size="10" text-anchor="middle">'
                         f"{escape(r['label'])}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()
