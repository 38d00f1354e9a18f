"""The sales side of the ERP sync: canonical products, prices, orders, invoices and payments stored
idempotently in the sales tables, and confirmed CRM orders exported for the push.

Records arrive through the ``crm_sync_apply`` hook as objects with the attributes of the
canonical records (see docs/erp_sync.md); ``sync`` resolves ERP ids to CRM ids. The ERP owns
every field of these records, so they are simply overwritten.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select

from crmcore.models import Customer
from crmcore.normalize import fold
from crmcore.runtime import ServiceContext

from crmcore.schemas.columns import length_of

from ..models import Invoice, Order, OrderLine, Payment, PriceList, Product
from . import catalog, coupons, orders

ORDER_STATES = {"draft": "draft", "quotation": "draft", "confirmed": "confirmed", "done": "delivered",
                "cancelled": "cancelled"}
DESCRIPTION_MAX = length_of(OrderLine.description)


def apply_record(ctx: ServiceContext, stream: str, record: Any, sync: Any) -> tuple[str, int, str] | None:
    """Store one record of ``stream``; return ``(entity, id, created|updated|unchanged)`` or None."""
    handler = {"products": _product, "prices": _price, "orders": _order, "invoices": _invoice,
               "payments": _payment}.get(stream)
    return handler(ctx, record, sync) if handler else None


def _customer(ctx: ServiceContext, sync: Any, external_id: str, what: str) -> int:
    """The CRM customer of an ERP party: a customer merged in the CRM since is followed to the one it was
    merged into (the same real customer); a deleted one refuses the record (a sync issue, the page goes on)."""
    customer_id = sync.resolve("customer", external_id)
    if customer_id is None:
        raise sync.skip(f"customer {external_id} of {what} is not synced yet")
    customer = ctx.session.get(Customer, customer_id)
    for _hop in range(10):  # a merge chain (A into B, B into C) ends at the live customer
        if customer is None or customer.merged_into_id is None:
            break
        customer = ctx.session.get(Customer, customer.merged_into_id)
    if customer is None or customer.deleted_at is not None:
        raise sync.skip(f"customer {customer_id} (ERP party {external_id}) of {what} was deleted in the "
                                   "CRM: it takes no new records; restore it, or ignore this issue")
    return customer.id


def _product(ctx: ServiceContext, record: Any, sync: Any) -> tuple[str, int, str]:
    product_id = sync.resolve("product", record.external_id)
    if product_id is None and record.code:
        product_id = ctx.session.scalar(select(Product.id).where(Product.code == fold(record.code)))  # codes: folded
    data = {"code": record.code, "name": record.name, "active": record.active, "source": "erp"}
    if record.unit:
        data["unit"] = record.unit[:16]
    if record.list_price is not None:
        data["list_price"] = record.list_price
    if record.currency:
        data["currency"] = record.currency
    if record.category:
        data["category"] = record.category
    if product_id is None:
        return "product", catalog.create_product(ctx, data).id, "created"
    product = ctx.session.get(Product, product_id)
    before = product.version
    catalog.update_product(ctx, product_id, data)
    return "product", product_id, "updated" if product.version != before else "unchanged"


def _price(ctx: ServiceContext, record: Any, sync: Any) -> tuple[str, int, str]:
    """One product's price in a named price list (created on its first price); linked as entity
    ``price`` with the id of the price list's item."""
    product_id = sync.resolve("product", record.product_ref)
    if product_id is None:
        raise sync.skip(f"product {record.product_ref} of price list '{record.price_list}' is not synced yet")
    if record.price is None:
        raise sync.skip(f"price list '{record.price_list}' has no price for product {record.product_ref}")
    pl = ctx.session.scalar(select(PriceList).where(PriceList.name == record.price_list))
    if pl is None:  # its first price creates the list
        pl = catalog.save_price_list(ctx, {"name": record.price_list, "source": "erp", "items": [
            {"product_id": product_id, "price": record.price}],
            "currency": record.currency or ctx.settings["DEFAULT_CURRENCY"]})
        return "price", pl.items[0].id, "created"
    item, action = catalog.set_price(ctx, pl.id, product_id, record.price)
    return "price", item.id, action


def _number(ctx: ServiceContext, model: Any, number: str, own_id: int | None, sync: Any) -> str:
    """The ERP's number, prefixed with the connection when another record already uses it."""
    other = ctx.session.scalar(select(model.id).where(model.number == number))
    return number if other is None or other == own_id else f"{sync.system}-{number}"


def _order(ctx: ServiceContext, record: Any, sync: Any) -> tuple[str, int, str]:
    customer_id = _customer(ctx, sync, record.customer_ref, f"order {record.number}")
    order_id = sync.resolve("order", record.external_id)
    if order_id is None and record.crm_ref:  # an order the CRM pushed: the ERP's copy comes back
        order_id = ctx.session.scalar(select(Order.id).where(Order.number == record.crm_ref))
    existing = ctx.session.get(Order, order_id) if order_id is not None else None
    lines = []
    for item in record.lines:
        product_id = sync.resolve("product", item.product_ref) if item.product_ref else None
        if item.product_ref and product_id is None:
            raise sync.skip(f"product {item.product_ref} of order {record.number} is not synced yet")
        # the ERP's text, cut to the column as before (the ERP owns it: a long one is no reason to skip the order)
        lines.append({"product_id": product_id, "description": (item.description or "")[:DESCRIPTION_MAX] or None,
                      "quantity": item.quantity, "unit_price": item.unit_price, "line_total": item.line_total})
    number = existing.number if existing is not None else _number(ctx, Order, record.number, None, sync)
    data = {"number": number, "customer_id": customer_id, "order_date": record.order_date,
            "status": ORDER_STATES.get(record.state, "confirmed"), "lines": lines}
    if record.currency:
        data["currency"] = record.currency
    if record.total is not None:
        data["total"] = record.total
    if existing is None:
        data["source"] = "erp"
    before = existing.version if existing is not None else None
    order = orders.record_order(ctx, data)
    action = "created" if existing is None else ("updated" if order.version != before else "unchanged")
    return "order", order.id, action


def _invoice(ctx: ServiceContext, record: Any, sync: Any) -> tuple[str, int, str]:
    customer_id = _customer(ctx, sync, record.customer_ref, f"invoice {record.number}")
    invoice_id = sync.resolve("invoice", record.external_id)
    existing = ctx.session.get(Invoice, invoice_id) if invoice_id is not None else None
    number = existing.number if existing is not None else _number(ctx, Invoice, record.number, None, sync)
    data = {"number": number, "customer_id": customer_id, "invoice_date": record.invoice_date,
            "due_date": record.due_date or record.invoice_date, "amount_total": record.amount_total}
    if record.currency:
        data["currency"] = record.currency
    if record.order_ref:  # the sale it was made from; not synced yet: stored without it, linked when it is
        order_id = sync.resolve("order", record.order_ref)
        if order_id is not None:
            data["order_id"] = order_id
        elif hasattr(sync, "waiting_for") and sync.pulls("orders"):  # (a connection without orders: no wait)
            sync.waiting_for("order", record.order_ref)
    if record.state in ("draft", "cancelled"):
        data["state"] = record.state
    if existing is None:
        data["source"] = "erp"
    before = existing.version if existing is not None else None
    invoice = orders.record_invoice(ctx, data)
    paid = Decimal(record.amount_total) - Decimal(record.amount_due)
    # Without a complete payments stream (Odoo, CSV) the paid share is derived from the amount due;
    # with one (Tryton), the ERP's own payment lines are recorded by ``_payment`` instead.
    derive = not getattr(sync, "payments_pulled", False)
    if derive and record.state not in ("draft", "cancelled") and paid > invoice.amount_paid:
        orders.record_payment(ctx, invoice.id, {
            "amount": paid - invoice.amount_paid, "paid_on": record.updated_at.date() if record.updated_at else
            record.invoice_date, "currency": invoice.currency, "source": "erp",
            "reference": f"{sync.system}:invoice:{record.external_id}:paid:{paid}"})
    action = "created" if existing is None else ("updated" if invoice.version != before else "unchanged")
    return "invoice", invoice.id, action


def _payment(ctx: ServiceContext, record: Any, sync: Any) -> tuple[str, int, str]:
    invoice_id = sync.resolve("invoice", record.invoice_ref)
    if invoice_id is None:
        raise sync.skip(f"invoice {record.invoice_ref} of payment {record.external_id} is not synced yet")
    reference = f"{sync.system}:payment:{record.external_id}"
    known = ctx.session.scalar(select(Payment).where(Payment.reference == reference))
    if known is not None:  # recorded before (an interrupted run): payments are never changed afterwards
        if known.invoice_id != invoice_id or known.amount != Decimal(record.amount):
            raise sync.skip(f"payment {record.external_id} was recorded as {known.amount} on invoice "
                                       f"{known.invoice_id}; the ERP now says {record.amount} on invoice {invoice_id}")
        return "payment", known.id, "unchanged"
    payment = orders.record_payment(ctx, invoice_id, {"amount": record.amount, "paid_on": record.paid_on,
                                                      "currency": record.currency, "reference": reference,
                                                      "source": "erp"})
    return "payment", payment.id, "created"


def export_record(ctx: ServiceContext, entity: str, entity_id: int, sync: Any) -> dict[str, Any] | None:
    """A confirmed CRM order as the canonical dict the ERP push needs; None for anything else."""
    if entity != "order":
        return None
    order = ctx.session.get(Order, entity_id)
    if order is None or order.source != "crm" or order.status != "confirmed":
        return None
    nets = coupons.net_line_totals(ctx, order)
    return {"number": order.number, "customer_id": order.customer_id, "order_date": order.order_date,
            "currency": order.currency, "total": order.total,
            "lines": [{"product_id": ln.product_id, "description": ln.description, "quantity": ln.quantity,
                       "unit_price": _net_unit_price(net, ln.quantity, ln.unit_price), "line_total": net}
                      for ln, net in zip(order.lines, nets, strict=True)]}


def _net_unit_price(net: Decimal, quantity: Decimal, unit_price: Decimal) -> Decimal:
    """The price per unit the ERP is sent: the line's total after its discount and its share of the coupon's,
    per unit (four places), so the ERP's order comes to the CRM's total without a discount of its own."""
    if not quantity:
        return unit_price
    return (net / quantity).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
