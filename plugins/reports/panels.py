"""The home page panels of the reports their managers put there: the first rows of each, as the viewer may see them."""
from __future__ import annotations

from typing import Any

from flask import url_for

from crmcore.contracts import Panel
from crmcore.errors import CRMError
from crmcore.runtime import ServiceContext

from .models import Report
from .services import definition, query, render, store

MAX_PANELS = 6
MAX_ITEMS = 8


def home_panels(ctx: ServiceContext) -> list[Any]:
    if not ctx.can("reports.read"):
        return []
    panels = []
    for report in ctx.session.scalars(store.visible(ctx).where(Report.on_home.is_(True)).limit(MAX_PANELS)):
        items: list[dict[str, Any]] = []
        try:
            result = query.run(ctx, {**definition.definition_of(report), "row_limit": MAX_ITEMS}, report.name)
        except CRMError as exc:  # a report the viewer's rules cannot answer, or too slow: say so in its panel
            items.append({"text": str(exc.message), "url": url_for("reports_admin.view", id=report.id), "note": "",
                          "warn": True})
        else:
            for row in result.rows:
                items.append({"text": " · ".join(row["cells"]) or report.name,
                              "url": url_for("reports_admin.view", id=report.id),
                              "note": " · ".join(render._fmt(v) for v in row["values"]), "warn": False})
        panels.append(Panel(f"report-{report.id}", report.name, items=items, order=200 + report.id))
    return panels
