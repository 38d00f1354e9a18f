"""The sales record types in the entity metadata, labelled by the admin views that declare them."""
from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from crmcore.entities import ComputedField, Entity, from_admin_view
from crmcore.i18n import _
from crmcore.models import Address
from crmcore.runtime import ServiceContext

from ..models import INVOICE_STATES, ORDER_STATUSES, Activity, Invoice, Lead, Opportunity, Order, OrderLine, Product, Quote
from .records import (ActivityView, InvoiceView, LeadView, OpportunityView, OrderView, ProductView, QuoteView,
                      code_options)


def entities() -> list[Entity]:
    """Leads, opportunities, quotes, orders and their lines, invoices, activities and products."""
    return [from_admin_view("lead", Lead, _("Leads"), LeadView,
                            labels={"disqualified_reason": _("Disqualified reason")}),
            from_admin_view("opportunity", Opportunity, _("Opportunities"), OpportunityView,
                            labels={"stage_entered_at": _("Stage entered"), "cycle_seconds": _("Cycle time (seconds)")}),
            from_admin_view("quote", Quote, _("Quotes"), QuoteView, labels={
                "price_list_id": _("Price list"), "valid_until": _("Valid until"), "discount_percent": _("Discount %"),
                "list_total": _("List total"), "subtotal": _("Subtotal"), "discount_total": _("Discount total"),
                "requires_approval": _("Requires approval"), "decided_by_id": _("Decided by"),
                "decided_at": _("Decided"), "decision_note": _("Decision note")}),
            from_admin_view("order", Order, _("Orders"), OrderView, labels={"list_total": _("List total")},
                            choices={"status": code_options(ORDER_STATUSES)}),
            Entity("order_line", OrderLine, _("Order lines"), "sales.order.read", {
                "order_id": _("Order"), "product_id": _("Product"), "description": _("Description"),
                "quantity": _("Quantity"), "list_price": _("List price"), "unit_price": _("Unit price"),
                "discount_percent": _("Discount %"), "line_total": _("Line total")}),
            from_admin_view("invoice", Invoice, _("Invoices"), InvoiceView,
                            choices={"state": code_options(INVOICE_STATES)}),
            from_admin_view("activity", Activity, _("Activities"), ActivityView,
                            labels={"outcome_note": _("Outcome note")}),
            from_admin_view("product", Product, _("Products"), ProductView)]


def _effective_discount_sql(ctx: ServiceContext) -> Any:
    overall, line = func.coalesce(Quote.effective_discount_percent, 0), func.coalesce(Quote.max_line_discount_percent, 0)
    return case((overall >= line, overall), else_=line)


def _effective_discount(quote: Any) -> Any:
    return quote.largest_discount_percent


def _order_province_sql(ctx: ServiceContext) -> Any:
    return (select(Address.region).where(Address.customer_id == Order.customer_id)
            .order_by(Address.is_primary.desc(), Address.id).limit(1).correlate(Order).scalar_subquery())


def _order_province_join(ctx: ServiceContext) -> tuple[Any, Any]:
    from crmcore.services.contacts import first_address

    return first_address(Address.region, ctx.session.get_bind().dialect.name), Order.customer_id


def computed_fields() -> list[ComputedField]:
    """The quote's effective discount: the largest of its overall discount and its lines' discounts, so a
    condition on it also catches a discount given on one line only (both back-ends, SQL and on a record);
    the order's province: its customer's (primary address), so a report on order lines groups by it."""
    return [ComputedField("quote", "effective_discount", "num",
                          _("Effective discount % (the largest of the quote's and its lines')"),
                          _effective_discount_sql, _effective_discount),
            ComputedField("order", "province", "str", _("Customer's province"), _order_province_sql,
                          join=_order_province_join)]
