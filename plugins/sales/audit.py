"""Who reads the sales plugin's audit entries: each entity type's read permission and record rules."""
from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from crmcore.contracts import AuditEntity
from crmcore.services.audit_scope import customer_in, ids_in
from crmcore.runtime import ServiceContext

from .models import Activity, Expense, Invoice, Lead, Metric, Opportunity, Order, Quote, SalesTarget
from .services import access


def _owned(model: Any) -> Any:
    """Entries of the records whose owner the reader sees."""
    def visible(ctx: ServiceContext) -> Any:
        return None if ctx.scope == "all" else ids_in(access.scope_owned(ctx, select(model.id), model.owner_id))

    return visible


def _leads(ctx: ServiceContext) -> Any:
    from .services.leads import _scope

    return None if ctx.scope == "all" else ids_in(_scope(ctx, select(Lead.id)))


def _sold(model: Any) -> Any:
    """Orders and invoices: visible when their owner or their customer is (deleted ones by their customer)."""
    def visible(ctx: ServiceContext) -> Any:
        from .services.orders import _scope

        if ctx.scope == "all":
            return None
        return or_(ids_in(_scope(ctx, select(model.id), model)), customer_in(ctx))

    return visible


def _targets(ctx: ServiceContext) -> Any:
    from crmcore.services.access import team_ids

    cond = access.owner_condition(ctx, SalesTarget.user_id)
    if cond is None:
        return None
    return ids_in(select(SalesTarget.id).where(or_(cond, SalesTarget.team_id.in_(team_ids(ctx) or [-1]))))


def _metrics(ctx: ServiceContext) -> Any:
    from .services.metrics import _shared_with

    if ctx.actor is None or ctx.can("sales.metric.manage"):
        return None
    return ids_in(select(Metric.id).where(_shared_with(ctx)))


def entities() -> list[AuditEntity]:
    return [AuditEntity("lead", "sales.lead.read", _leads),
            AuditEntity("opportunity", "sales.opportunity.read", _owned(Opportunity)),
            AuditEntity("quote", "sales.quote.read", _owned(Quote)),
            AuditEntity("activity", "sales.activity.read", _owned(Activity)),
            AuditEntity("expense", "sales.kpi.read", _owned(Expense)),
            AuditEntity("order", "sales.order.read", _sold(Order)),
            AuditEntity("invoice", "sales.order.read", _sold(Invoice)),
            AuditEntity("payment", "sales.order.read", lambda ctx: None if ctx.scope == "all" else customer_in(ctx)),
            AuditEntity("product", "sales.product.read"),
            AuditEntity("price_list", "sales.product.read"),
            AuditEntity("sales_exchange_rate", "sales.order.read"),
            AuditEntity("stage", "sales.opportunity.read"),
            AuditEntity("sales_target", "sales.target.read", _targets),
            AuditEntity("metric", "sales.kpi.read", _metrics)]
