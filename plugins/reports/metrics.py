"""A sales metric's number computed by running its report (the sales plugin's ``crm_sales_metric_value``)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore import entities as meta
from crmcore.runtime import ServiceContext

from .models import Report
from .services.query import build, execute


def metric_value(ctx: ServiceContext, metric: Any, where: tuple[Any, ...], currency: str) -> dict[str, Any] | None:
    """The metric's value from its report (same name and entity: its filters and first measure), else from the
    metric's own definition run as a report; None for an entity the report builder does not know."""
    if metric.entity not in meta.registered(ctx):
        return None
    report = ctx.session.scalar(select(Report).where(Report.name == metric.name, Report.entity == metric.entity))
    if report is not None and report.measures:
        filters, measure = report.filters, report.measures[0]
    else:
        filters, measure = metric.conditions, {"agg": metric.aggregate or "count", "field": metric.field}
    definition = {"entity": metric.entity, "filters": filters, "group_by": [], "measures": [measure], "row_limit": 1}
    stmt, _columns = build(ctx, definition, where=where, currency=currency)
    rows = execute(ctx, stmt)
    return {"value": rows[0][0] if rows else None, "report": report.name if report is not None else None}
