"""A sales metric's number computed by running its report (the sales plugin's ``crm_sales_metric_value``)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from crmcore import entities as meta
from crmcore.runtime import ServiceContext

from .models import Report, ReportShare
from .services.query import build, execute


def report_of(ctx: ServiceContext, metric: Any) -> Report | None:
    """The report that defines a metric: the one of its name and entity (an entity the report builder knows), with a
    measure."""
    if metric.entity not in meta.registered(ctx):
        return None
    report = ctx.session.scalar(select(Report).where(Report.name == metric.name, Report.entity == metric.entity))
    return report if report is not None and report.measures else None


def metric_report(ctx: ServiceContext, metric: Any) -> dict[str, Any] | None:
    """``crm_sales_metric_report``: the report that defines the metric, its definition, and whether it is the
    metric's own copy (marked) or a person's report."""
    report = report_of(ctx, metric)
    if report is None:
        return None
    return {"id": report.id, "name": report.name, "entity": report.entity, "filters": report.filters,
            "measure": dict(report.measures[0]), "mirror": (report.description or "").endswith(f"\n{MARKER}")}


def metric_value(ctx: ServiceContext, metric: Any, where: tuple[Any, ...], currency: str) -> dict[str, Any] | None:
    """The metric's value from its report (:func:`report_of`: its entity, filters and first measure), else from the
    metric's own definition run as a report; None for an entity the report builder does not know."""
    if metric.entity not in meta.registered(ctx):
        return None
    report = report_of(ctx, metric)
    if report is not None:
        filters, measure = report.filters, report.measures[0]
    else:
        filters, measure = metric.conditions, {"agg": metric.aggregate or "count", "field": metric.field}
    definition = {"entity": metric.entity, "filters": filters, "group_by": [], "measures": [measure], "row_limit": 1}
    stmt, _columns = build(ctx, definition, where=where, currency=currency)
    rows = execute(ctx, stmt)
    return {"value": rows[0][0] if rows else None, "report": report.name if report is not None else None}


MARKER = "[metric]"  # ends the description of a report that mirrors a metric (as the migration wrote it)
METRIC_EVENTS = ("sales.metric.created", "sales.metric.updated", "sales.metric.shared", "sales.metric.deleted")
_metrics = sa.table("sales_metrics", sa.column("id"), sa.column("name"), sa.column("label"), sa.column("description"),
                    sa.column("entity"), sa.column("conditions", sa.JSON), sa.column("aggregate"), sa.column("field"),
                    sa.column("created_by_id"))
_metric_shares = sa.table("sales_metric_shares", sa.column("metric_id"), sa.column("role_id"), sa.column("user_id"))


def mirror_metrics(ctx: ServiceContext, events: list[Any]) -> None:
    """A metric written through the sales API or admin is written to its report too (created, changed, shared,
    deleted), so a metric stays a report: the report of its name, marked as the migration marks it. A report of
    that name a person made (unmarked) is left alone: it is the metric's definition."""
    done = False
    for event in events:
        if event.name not in METRIC_EVENTS:
            continue
        renamed = ((event.data or {}).get("changes") or {}).get("name") or [None, None]
        row = ctx.session.execute(sa.select(*_metrics.c).where(_metrics.c.id == event.entity_id)).mappings().first()
        old_name = renamed[0] or (row["name"] if row is not None else None)
        report = ctx.session.scalar(select(Report).where(Report.name == old_name)) if old_name else None
        if report is not None and not (report.description or "").endswith(f"\n{MARKER}"):
            continue  # a person's report of that name: not ours to change
        if row is None or row["entity"] not in meta.registered(ctx):
            if report is not None:
                ctx.session.delete(report)
                done = True
            continue
        other = ctx.session.scalar(select(Report).where(Report.name == row["name"]))
        if other is not None and other is not report:  # renamed onto a person's report: that one is the metric now
            if report is not None:
                ctx.session.delete(report)
                done = True
            continue
        if report is None:
            report = Report(owner_id=row["created_by_id"])
            ctx.session.add(report)
        measure = {"agg": row["aggregate"] or "count", "field": None if row["aggregate"] == "count" else row["field"]}
        report.name, report.entity, report.filters = row["name"], row["entity"], row["conditions"] or None
        report.description = "\n".join(p for p in (row["label"], row["description"] or "") if p) + f"\n{MARKER}"
        report.group_by, report.measures = [], [measure]
        shares = ctx.session.execute(sa.select(_metric_shares.c.role_id, _metric_shares.c.user_id)
                                     .where(_metric_shares.c.metric_id == row["id"])).all()
        wanted = {(r, u) for r, u in shares}
        kept = [s for s in report.shares if (s.role_id, s.user_id) in wanted]
        have = {(s.role_id, s.user_id) for s in kept}
        report.shares = kept + [ReportShare(role_id=r, user_id=u) for r, u in sorted(wanted - have, key=str)]
        done = True
    if done:
        ctx.session.commit()
