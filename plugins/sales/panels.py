"""The sales sections of the customer 360 view (pipeline, order history, receivables, next
activities, cross-sell suggestions) and of the rep's home page (activities due, pipeline by stage);
each shown only with the permission to see it."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from crmcore.contracts import Panel
from crmcore.i18n import _, local_money, local_time
from crmcore.runtime import ServiceContext

from .models import Activity, Opportunity
from .services import access


def customer_panels(ctx: ServiceContext, customer: Any) -> list[Panel]:
    panels = []
    if ctx.can("sales.opportunity.read"):
        stmt = access.scope_owned(ctx, select(Opportunity), Opportunity.owner_id).where(
            Opportunity.customer_id == customer.id, Opportunity.status == "open")
        opps = ctx.session.scalars(stmt.order_by(Opportunity.expected_close_date).limit(10)).unique().all()
        panels.append(Panel("sales_pipeline", _("Open opportunities"), order=30, items=[
            {"id": o.id, "name": o.name, "stage": o.stage.name, "amount": str(o.amount), "currency": o.currency,
             "probability": o.probability,
             "expected_close_date": o.expected_close_date.isoformat() if o.expected_close_date else None}
            for o in opps]))
    if ctx.can("sales.order.read"):
        from .services.orders import customer_summary

        summary = customer_summary(ctx, customer.id)
        rows: list[tuple[str, Any]] = []
        for currency, o in summary["orders"].items():
            rows.append((_("Orders (%(currency)s)", currency=currency),
                         _("%(count)s, %(total)s, last %(date)s", count=o["count"], total=local_money(o["total"], currency),
                           date=o["last_order_date"])))
        for currency, r in summary["receivables"].items():
            rows.append((_("Amount due (%(currency)s)", currency=currency),
                         _("%(due)s (overdue %(overdue)s)", due=local_money(r["amount_due"], currency),
                           overdue=local_money(r["overdue"], currency))))
        panels.append(Panel("sales_orders", _("Orders and receivables"), order=35, rows=rows or [(_("Orders"), _("none"))]))
    if ctx.can("sales.activity.read"):
        stmt = access.scope_owned(ctx, select(Activity), Activity.owner_id).where(
            Activity.customer_id == customer.id, Activity.status == "planned")
        planned = ctx.session.scalars(stmt.order_by(Activity.due_at.is_(None), Activity.due_at).limit(5)).all()
        count = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
        panels.append(Panel("sales_activities", _("Planned activities (%(count)s)", count=count), order=40, items=[
            {"id": a.id, "kind": a.kind, "subject": a.subject, "due_at": a.due_at.isoformat() if a.due_at else None}
            for a in planned]))
    if ctx.can("sales.product.read"):
        from .services.suggestions import for_customer

        found = for_customer(ctx, customer.id, limit=5)
        if found:
            panels.append(Panel("sales_suggestions", _("Cross-sell suggestions"), order=45, items=[
                {"product": f"{s['name']} ({s['code']})", "score": s["score"], "why": "; ".join(s["reasons"]),
                 "source": s["source"]} for s in found]))
    return panels


HOME_ITEMS = 8  # lines per home panel


def home_panels(ctx: ServiceContext) -> list[Panel]:
    """The rep's day on the admin home page: my activities due today and overdue, my open
    opportunities by stage (each stage links to my board)."""
    if ctx.actor is None:
        return []
    from flask import url_for
    from flask_babel import get_timezone

    from crmcore.db import utcnow
    from crmcore.models import Customer

    from .models import Stage

    me, now, panels = ctx.actor.id, utcnow(), []
    if ctx.can("sales.activity.read"):
        tz = get_timezone()
        tomorrow = dt.datetime.combine(now.astimezone(tz).date() + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        due = select(Activity).where(Activity.owner_id == me, Activity.status == "planned",
                                     Activity.due_at.is_not(None), Activity.due_at < tomorrow)
        count = int(ctx.session.scalar(select(func.count()).select_from(due.subquery())) or 0)
        can_edit = ctx.can("sales.activity.write")
        items = []
        for activity, customer in ctx.session.execute(
                due.add_columns(Customer.name).join(Customer, Customer.id == Activity.customer_id)
                .order_by(Activity.due_at, Activity.id).limit(HOME_ITEMS)):
            items.append({"text": activity.subject, "note": f"{customer} · {local_time(activity.due_at)}",
                          "warn": _aware(activity.due_at) < now,
                          "url": url_for("sales_activity.edit_view", id=activity.id) if can_edit
                          else url_for("customer.details_view", id=activity.customer_id)})
        panels.append(Panel("sales_activities", _("My activities due and overdue (%(count)s)", count=count),
                            items=items, order=20))
    if ctx.can("sales.opportunity.read"):
        rows = ctx.session.execute(
            select(Stage.name, Opportunity.currency, func.count(), func.sum(Opportunity.amount))
            .join(Stage, Stage.id == Opportunity.stage_id)
            .where(Opportunity.owner_id == me, Opportunity.status == "open")
            .group_by(Stage.id, Stage.name, Stage.sequence, Opportunity.currency)
            .order_by(Stage.sequence, Stage.id, Opportunity.currency)).all()
        by_stage: dict[str, list[tuple[str, int, Any]]] = {}
        for name, currency, n, total in rows:
            by_stage.setdefault(name, []).append((currency, int(n), total))
        board = url_for("sales_board.index", owner_id=me)
        panels.append(Panel("sales_pipeline", _("My open opportunities by stage"), order=30, items=[
            {"text": f"{name} ({sum(n for _c, n, _t in parts)})", "url": board, "warn": False,
             "note": ", ".join(local_money(total, currency) for currency, _n, total in parts)}
            for name, parts in by_stage.items()]))
    return panels


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
