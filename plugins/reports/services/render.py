"""A report's result shown: a pivot (rows x columns with totals), a chart drawn by the server as SVG (bar,
stacked bar, line, pie; every text escaped), and the CSV and XLSX exports."""
from __future__ import annotations

import csv
import io
import math
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

from crmcore.i18n import _

from .query import Result

PALETTE = ("#2f6fb0", "#e08a2c", "#3c9a5f", "#c0504d", "#7d5ba6", "#4bacc6", "#9c7a3c", "#8a8a8a")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 360, 70, 70, 20
MAX_SERIES = 12


def series(result: Result) -> tuple[list[str], list[str], dict[tuple[str, str], Decimal]]:
    """The first measure by (category, series): the categories are the first grouping, the series the
    second (one series, the measure's label, when there is one grouping)."""
    measure = next(c for c in result.columns if c.role == "measure")
    groups = [c for c in result.columns if c.role == "group"]
    cats: list[str] = []
    names: list[str] = []
    values: dict[tuple[str, str], Decimal] = {}
    for row in result.rows:
        cat = row["cells"][0] if groups else measure.label
        name = row["cells"][1] if len(groups) > 1 else measure.label
        if cat not in cats:
            cats.append(cat)
        if name not in names:
            names.append(name)
        value = row["values"][0]
        values[(cat, name)] = values.get((cat, name), Decimal(0)) + Decimal(str(value or 0))
    return cats, names, values


def pivot(result: Result) -> dict[str, Any]:
    """Rows x columns of the first measure with row, column and grand totals (a count or sum adds up;
    an average, a minimum or a maximum has no total)."""
    cats, names, values = series(result)
    measure = next(c for c in result.columns if c.role == "measure")
    additive = measure.agg in ("count", "sum")
    rows = [{"label": c, "cells": [values.get((c, n)) for n in names],
             "total": sum((values.get((c, n), Decimal(0)) for n in names), Decimal(0)) if additive else None}
            for c in cats]
    totals = [sum((values.get((c, n), Decimal(0)) for c in cats), Decimal(0)) if additive else None for n in names]
    grand = sum((t for t in totals if t is not None), Decimal(0)) if additive else None
    return {"columns": names, "rows": rows, "totals": totals, "grand": grand, "measure": measure.label}


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


def svg(result: Result, kind: str | None = None) -> Markup:
    """The chart of ``result`` as an inline SVG (``kind``: bar, stacked_bar, line or pie; default its display)."""
    kind = kind or result.display
    if kind not in ("bar", "stacked_bar", "line", "pie"):
        kind = "bar"
    cats, names, values = series(result)
    names = names[:MAX_SERIES]
    title = escape(result.name)
    if not cats:
        return Markup('<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{w}" height="60" aria-label="{t}">'
                      '<text x="10" y="35">{e}</text></svg>').format(w=WIDTH, t=title, e=_("No data."))
    parts: list[str] = []
    if kind == "pie":
        _pie(cats, names[0], values, parts)
    else:
        _axes(kind, cats, names, values, parts)
    legend = names if kind != "pie" else cats[:MAX_SERIES]
    for i, name in enumerate(legend):
        y = TOP + 16 * i
        parts.append(f'<rect x="{WIDTH - 150}" y="{y}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{WIDTH - 135}" y="{y + 9}" font-size="11">{escape(name)}</text>')
    body = "".join(parts)
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" class="report-chart" role="img" width="{WIDTH}" '  # noqa: S704 - every text above is escaped
                  f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" aria-label="{title}" font-family="sans-serif">'
                  f'<title>{title}</title>{body}</svg>')


def _axes(kind: str, cats: list[str], names: list[str], values: dict[tuple[str, str], Decimal], parts: list[str]) -> None:
    plot_w, plot_h = WIDTH - LEFT - 170, HEIGHT - TOP - BOTTOM
    if kind == "stacked_bar":
        highs = [sum((max(values.get((c, n), Decimal(0)), Decimal(0)) for n in names), Decimal(0)) for c in cats]
    else:
        highs = [values.get((c, n), Decimal(0)) for c in cats for n in names]
    top = float(max(highs, default=Decimal(0))) or 1.0
    top = _nice(top)
    base_y = TOP + plot_h
    for i in range(5):  # grid and scale
        v = top * i / 4
        y = base_y - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{escape(_fmt(Decimal(str(round(v, 2)))))}</text>')
    step = plot_w / max(len(cats), 1)
    for ci, cat in enumerate(cats):
        x0 = LEFT + step * ci
        parts.append(f'<text x="{x0 + step / 2:.1f}" y="{base_y + 14}" font-size="10" text-anchor="end" '
                     f'transform="rotate(-30 {x0 + step / 2:.1f} {base_y + 14})">{escape(cat)}</text>')
        if kind == "line":
            continue
        stack = 0.0
        width = step * 0.8 / (1 if kind == "stacked_bar" else len(names))
        for ni, name in enumerate(names):
            value = float(values.get((cat, name), 0))
            h = plot_h * max(value, 0) / top
            x = x0 + step * 0.1 + (0 if kind == "stacked_bar" else width * ni)
            y = base_y - h - (stack if kind == "stacked_bar" else 0)
            if kind == "stacked_bar":
                stack += h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[ni % len(PALETTE)]}"><title>{escape(cat)} · {escape(name)}: '
                         f'{escape(_fmt(values.get((cat, name))))}</title></rect>')
    if kind == "line":
        for ni, name in enumerate(names):
            points = " ".join(f"{LEFT + step * ci + step / 2:.1f},{base_y - plot_h * max(float(values.get((c, name), 0)), 0) / top:.1f}"
                              for ci, c in enumerate(cats))
            parts.append(f'<polyline fill="none" stroke="{PALETTE[ni % len(PALETTE)]}" stroke-width="2" points="{points}"/>')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{base_y}" stroke="#444"/>'
                 f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{base_y}" y2="{base_y}" stroke="#444"/>')


def _nice(top: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``top``: a scale a person reads."""
    power = 10 ** math.floor(math.log10(top))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= top)


def _pie(cats: list[str], name: str, values: dict[tuple[str, str], Decimal], parts: list[str]) -> None:
    shown = [(c, float(max(values.get((c, name), Decimal(0)), Decimal(0)))) for c in cats[:MAX_SERIES]]
    total = sum(v for _c, v in shown) or 1.0
    cx, cy, r = (WIDTH - 170) / 2, HEIGHT / 2, min(WIDTH - 170, HEIGHT) / 2 - 20
    angle = -math.pi / 2
    for i, (cat, value) in enumerate(shown):
        sweep = 2 * math.pi * value / total
        color = PALETTE[i % len(PALETTE)]
        label = f"<title>{escape(cat)}: {escape(_fmt(Decimal(str(value))))} ({100 * value / total:.1f}%)</title>"
        if sweep >= 2 * math.pi - 1e-9:
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{color}">{label}</circle>')
        elif sweep > 0:
            x1, y1 = cx + r * math.cos(angle), cy + r * math.sin(angle)
            x2, y2 = cx + r * math.cos(angle + sweep), cy + r * math.sin(angle + sweep)
            large = 1 if sweep > math.pi else 0
            parts.append(f'<path d="M{cx:.1f},{cy:.1f} L{x1:.1f},{y1:.1f} A{r:.1f},{r:.1f} 0 {large} 1 {x2:.1f},{y2:.1f} Z" '
                         f'fill="{color}">{label}</path>')
        angle += sweep


def table_rows(result: Result) -> list[list[Any]]:
    """The header and rows as a person reads them (names, labels), for CSV and XLSX."""
    header = [c.label for c in result.columns]
    return [header, *[[*row["cells"], *row["values"]] for row in result.rows]]


def to_csv(result: Result) -> str:
    """CSV with a byte-order mark for spreadsheet programs; a cell that starts like a formula is quoted with '."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    for row in table_rows(result):
        writer.writerow([_safe(v) for v in row])
    return out.getvalue()


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def to_xlsx(result: Result) -> bytes:
    """An XLSX workbook of the table (numbers as numbers); written by XlsxWriter."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet(result.name[:31].translate({ord(c): " " for c in "[]:*?/\\"}) or "Report")
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "#,##0.00"})
    for r, row in enumerate(table_rows(result)):
        for c, value in enumerate(row):
            if r == 0:
                sheet.write_string(r, c, str(value), bold)
            elif isinstance(value, Decimal):
                sheet.write_number(r, c, float(value), money)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, "" if value is None else str(value))
    book.close()
    return out.getvalue()
