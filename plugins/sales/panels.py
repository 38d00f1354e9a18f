"""The sales sections of the customer 360 view: pipeline, order history, receivables, next
activities and cross-sell suggestions; each shown only with the permission to see it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crmcore.contracts import Panel
from crmcore.i18n import _, local_money
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
