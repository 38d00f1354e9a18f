"""Orders, invoices and payments: created from quotes in the CRM or recorded by the ERP sync.

``record_order`` / ``record_invoice`` are idempotent by ``number`` (a second call updates), and
``record_payment`` by ``reference``, so an interrupted sync can simply run again.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm.attributes import set_committed_value

from crmcore.db import transient
from crmcore.errors import Conflict, NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.services import access as core_access
from crmcore.services import listing
from crmcore.services.customers import get_customer, live_customer
from crmcore.services.unit import apply_changes, new_values, unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import length_of
from crmcore.services.validation import load

from ..models import Invoice, Order, OrderLine, Payment, Product
from . import access, coupons
from ..schemas.orders import InvoiceSchema, OrderSchema, PaymentSchema
from .common import INVALID, check_user, new_number
from .money import ZERO, cents
from .order_lines import check_products, line_products, line_values, order_lines

ORDER_FIELDS = ("number", "customer_id", "owner_id", "opportunity_id", "order_date", "currency", "status", "source")
INVOICE_FIELDS = ("number", "customer_id", "order_id", "owner_id", "invoice_date", "due_date", "currency",
                  "amount_total", "source")
_ORDER, _INVOICE, _PAYMENT = OrderSchema(), InvoiceSchema(), PaymentSchema()


def _scope(ctx: ServiceContext, stmt: Any, model: Any) -> Any:
    """Visible when the record's owner is in scope or its customer is."""
    cond = access.owner_condition(ctx, model.owner_id)
    if cond is None:
        return stmt
    customers = core_access.scope_customers(ctx, select(Customer.id))
    return stmt.where(or_(cond, model.customer_id.in_(customers)))


def _check(ctx: ServiceContext, obj: Any, what: str) -> None:
    if access.can_access_owner(ctx, obj.owner_id):
        return
    customer = ctx.session.get(Customer, obj.customer_id)
    if customer is None or not core_access.can_access_customer(ctx, customer):
        access.check_owned(ctx, obj.owner_id, what)


def _check_customer(ctx: ServiceContext, customer_id: Any, known: Customer | None = None) -> None:
    """A person (not the ERP sync, which acts as the system) writes only for customers in scope (``known``: the
    customer of ``customer_id`` when the caller has it)."""
    customer = known if known is not None and known.id == customer_id else \
        ctx.session.get(Customer, customer_id) if customer_id is not None else None
    if customer is not None and not core_access.can_access_customer(ctx, customer):
        core_access.check_customer_access(ctx, customer)


def get_order(ctx: ServiceContext, order_id: int) -> Order:
    ctx.require("sales.order.read")
    order = ctx.session.get(Order, order_id)
    if order is None:
        raise NotFound(_("Order %(id)s does not exist.", id=order_id))
    _check(ctx, order, "order")
    return order


def list_orders(ctx: ServiceContext, *, customer_id: int | None = None, status: str | None = None, page: int = 1,
                page_size: int = 25, cursor: str | None = None) -> listing.ListPage:
    """Orders the actor may see, newest first (a customer's order history with ``customer_id``); by keyset
    from ``cursor``, with a total that is an estimate above ``COUNT_EXACT_MAX``."""
    ctx.require("sales.order.read")
    stmt = _scope(ctx, select(Order), Order)
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    if status:
        stmt = stmt.where(Order.status == status)
    keys = [listing.Key(Order.order_date, desc=True), listing.Key(Order.id, desc=True)]
    return listing.list_page(ctx, stmt, name="sales.orders", keys=keys, cursor=cursor, page=page, page_size=page_size)


@dataclass
class CleanOrder:
    """An order's input after its validation (:func:`validate_order`): what :func:`apply_order` writes."""

    data: dict[str, Any]
    lines: list[OrderLine] | None
    total: Decimal | None
    customer: Customer | None
    coupon: coupons.OrderCoupon | None = None  # None: the order's coupon is not touched


# A cancelled order the CRM keeps is closed: it changes no more (the ERP's own orders follow the ERP).
CLOSED_STATUSES = ("cancelled",)


def validate_order(ctx: ServiceContext, data: dict[str, Any], existing: Order | None,
                   products_by_id: dict[Any, Product] | None = None,
                   customers_by_id: dict[Any, Customer] | None = None) -> CleanOrder:
    """An order's input checked and converted, the one validation every path shares (API, ERP sync,
    importer): ``OrderSchema`` with its lines (lengths and choices from the model; all fields for a new
    order, those given for ``existing``), then products and an owner that exist and a live customer in
    the actor's scope (``PermissionDenied`` otherwise); a ``coupon_code`` (or new lines of an order holding
    one) checked against the lines and the customer, its discount computed here (a refusal says why at
    ``coupon_code``). Products, customers and users are read with ``session.get``, so a caller that loaded
    them already costs no query per order; a bulk import passes its batch's ``products_by_id`` and
    ``customers_by_id``, which are not even looked up in the session."""
    products: dict[Any, Product | None] = {}

    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        check_user(ctx, values.get("owner_id"), "owner_id", errors)
        products.update(line_products(ctx, values.get("lines"), products_by_id))
        check_products(ctx, values.get("lines"), errors, products)
        return errors

    data = load(_ORDER, data, partial=existing is not None, message=INVALID["order"], check=check)
    customer_id = data.get("customer_id", existing.customer_id if existing else None)
    known = customers_by_id.get(customer_id) if customers_by_id and customer_id is not None else None
    customer = live_customer(ctx, data["customer_id"], known=known) if data.get("customer_id") is not None else None
    lines = order_lines(products, data["lines"]) if "lines" in data else None
    _check_customer(ctx, customer_id, known)
    coupon = coupons.order_coupon(ctx, data, existing, lines)
    return CleanOrder(data, lines, data.get("total"), customer, coupon)


def _coupon_values(clean: CleanOrder) -> dict[str, Any]:
    if clean.coupon is None:
        return {}
    return {"coupon_code": clean.coupon.coupon.code if clean.coupon.coupon else None,
            "coupon_discount": clean.coupon.discount}


def _total(order: Order, clean: CleanOrder) -> Decimal | None:
    """The total to write: given, else the lines' total (the new lines, or the order's when only its coupon
    changes) less the coupon's discount; None: unchanged."""
    if clean.total is not None:
        return clean.total
    if clean.lines is None and clean.coupon is None:
        return None
    lines = clean.lines if clean.lines is not None else order.lines
    discount = clean.coupon.discount if clean.coupon is not None else (order.coupon_discount or ZERO)
    return sum((ln.line_total for ln in lines), ZERO) - discount


def new_order(ctx: ServiceContext, clean: CleanOrder) -> Order:
    """An empty order with the defaults of a new one: the customer's currency (else the base one), confirmed."""
    currency = (clean.customer.currency if clean.customer else None) or ctx.settings["DEFAULT_CURRENCY"]
    clean.data.setdefault("owner_id", clean.customer.owner_id if clean.customer else None)
    return transient(Order, {"currency": currency, "status": "confirmed", "source": "crm"})


def order_differs(order: Order, clean: CleanOrder) -> bool:
    """Whether :func:`apply_order` would change the stored ``order`` (nothing is written)."""
    lines, total = clean.lines, _total(order, clean)
    return (lines is not None and line_values(order.lines) != line_values(lines)) or \
        (total is not None and total != order.total) or \
        any(getattr(order, name) != value for name, value in _coupon_values(clean).items()) or \
        any(name in clean.data and getattr(order, name) != clean.data[name] for name in ORDER_FIELDS)


def apply_order(order: Order, clean: CleanOrder, created: bool, *, core_insert: bool = False) -> dict[str, list[Any]]:
    """Write a cleaned order's fields, lines and totals on ``order``; return the changes (empty: unchanged).

    ``total`` defaults to the sum of the lines' totals; ``list_total`` to the sum of ``quantity *
    list_price`` when every line has a list price. A closed (cancelled) order that would change raises
    ``Conflict`` before anything is written on it. ``core_insert``: a new order that is never added to the
    session, written by a bulk ``INSERT`` (an import): its lines are set without the ORM's change tracking,
    which costs more than the rest of the order together."""
    data, lines, total = clean.data, clean.lines, _total(order, clean)
    if not created and order.status in CLOSED_STATUSES and order.source != "erp" and order_differs(order, clean):
        raise Conflict(_("Order %(number)s is cancelled; it cannot be changed.", number=order.number))
    plain = created and core_insert  # nothing tracks its changes: its fields are written as they are
    put = _put_plain if plain else apply_changes
    changes = put(order, data, ORDER_FIELDS)
    coupon = _coupon_values(clean)
    changes.update(put(order, coupon, tuple(coupon)))
    if lines is not None and plain:
        set_committed_value(order, "lines", lines)
        changes["lines"] = [None, len(lines)]
    elif lines is not None and (created or line_values(order.lines) != line_values(lines)):
        order.lines = lines  # the same lines again (an ERP re-read) change nothing: no update, no audit
        changes["lines"] = [None, len(lines)]
    totals: dict[str, Any] = {}
    if lines is not None:
        known = [ln for ln in lines if ln.list_price is not None]
        totals["list_total"] = cents(sum((ln.quantity * ln.list_price for ln in known), ZERO)) \
            if lines and len(known) == len(lines) else None
    if data.get("list_total") is not None:
        totals["list_total"] = data["list_total"]
    if total is not None and total != order.total:
        changes["total"] = [order.total, total]
        totals["total"] = total
    if plain:
        order.__dict__.update(totals)
    else:
        for name, value in totals.items():
            setattr(order, name, value)
    return changes


def _put_plain(order: Order, data: dict[str, Any], names: tuple[str, ...]) -> dict[str, list[Any]]:
    """:func:`apply_changes` on a new order no session holds (a bulk insert's), without the ORM's events."""
    values, changes = order.__dict__, {}
    for name in names:
        if name in data and (before := values.get(name)) != (after := data[name]):
            values[name], changes[name] = after, [before, after]
    return changes


def lookup_key(value: Any, column: Any) -> str | None:
    """``value`` as a key to look a record up by before its validation (an order's number, a payment's
    reference): None when it cannot be one (not text, blank, a NUL, longer than the column), so a bad value is
    refused by the validation with its words, never by the database."""
    if not isinstance(value, str) or "\x00" in value or len(value) > (length_of(column) or 255):
        return None
    return value.strip() or None


def record_order(ctx: ServiceContext, data: dict[str, Any]) -> Order:
    """Create or update (by ``number``) an order, e.g. from the ERP.

    ``total`` defaults to the sum of the lines' totals; ``list_total`` to the sum of ``quantity *
    list_price`` when every line has a list price (else it stays unknown and the order is left
    out of the price retention rate). The owner defaults to the customer's owner. A cancelled
    order (other than the ERP's own) cannot be changed (409).
    """
    ctx.require("sales.order.write")
    number = lookup_key(data.get("number"), Order.number)
    existing = ctx.session.scalar(select(Order).where(Order.number == number)) if number else None
    clean = validate_order(ctx, data, existing)
    with unit_of_work(ctx):
        created = existing is None
        order = existing or new_order(ctx, clean)
        if created:
            ctx.session.add(order)
        changes = apply_order(order, clean, created)
        if not changes and not created:
            return order
        ctx.hook.crm_before_save(ctx=ctx, entity="order", obj=order, changes=changes, created=created)
        ctx.session.flush()
        if order.coupon_code or "coupon_code" in changes:
            coupons.settle_order(ctx, order)  # its code used once, or released (cancelled, removed)
        action = "created" if created else "updated"
        record_change(ctx, "order", action, order.id, changes, event_name=f"sales.order.{action}",
                      data={"number": order.number, "customer_id": order.customer_id})
    return order


def create_order_from_quote(ctx: ServiceContext, quote: Any, order_date: dt.date | None = None) -> Order:
    """The order of a quote: its lines, totals, customer, owner and opportunity (called by the quote service)."""
    live_customer(ctx, quote.customer_id)  # a quote of a customer deleted since cannot become an order

    lines = [OrderLine(product_id=ln.product_id, description=ln.description, quantity=ln.quantity,
                       list_price=ln.list_price, unit_price=ln.unit_price, discount_percent=ln.discount_percent,
                       line_total=ln.line_total) for ln in quote.lines]
    order = Order(number=new_number("SO"), customer_id=quote.customer_id, owner_id=quote.owner_id, quote_id=quote.id,
                  opportunity_id=quote.opportunity_id, order_date=order_date or dt.date.today(),
                  currency=quote.currency, status="confirmed", total=quote.total, list_total=quote.list_total,
                  source="crm", lines=lines)
    ctx.session.add(order)
    ctx.hook.crm_before_save(ctx=ctx, entity="order", obj=order, changes={}, created=True)
    ctx.session.flush()
    record_change(ctx, "order", "created", order.id, {"total": [None, order.total]}, event_name="sales.order.created",
                  data={"number": order.number, "customer_id": order.customer_id, "quote_id": quote.id})
    return order


# --- invoices and payments -------------------------------------------------------------------


def get_invoice(ctx: ServiceContext, invoice_id: int) -> Invoice:
    ctx.require("sales.order.read")
    invoice = ctx.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(_("Invoice %(id)s does not exist.", id=invoice_id))
    _check(ctx, invoice, "invoice")
    return invoice


def list_invoices(ctx: ServiceContext, *, customer_id: int | None = None, state: str | None = None, overdue: bool = False,
                  page: int = 1, page_size: int = 25, today: dt.date | None = None) -> tuple[list[Invoice], int]:
    ctx.require("sales.order.read")
    stmt = _scope(ctx, select(Invoice), Invoice)
    if customer_id is not None:
        stmt = stmt.where(Invoice.customer_id == customer_id)
    if state:
        stmt = stmt.where(Invoice.state == state)
    if overdue:
        stmt = stmt.where(Invoice.state.in_(("open", "partial")), Invoice.due_date < (today or dt.date.today()))
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(Invoice.due_date.desc(), Invoice.id.desc())
                                .offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)


def _state(invoice: Invoice, requested: str | None) -> str:
    if requested in ("draft", "cancelled"):
        return requested
    if invoice.amount_paid >= invoice.amount_total:
        return "paid"
    return "partial" if invoice.amount_paid > 0 else "open"


def validate_invoice(ctx: ServiceContext, data: dict[str, Any], existing: Invoice | None,
                     customers_by_id: dict[Any, Customer] | None = None) -> dict[str, Any]:
    """An invoice's input checked and converted, the one validation every path shares (API, ERP sync,
    importer): ``InvoiceSchema`` (all fields for a new invoice, those given for ``existing``), then an
    order and an owner that exist and a live customer in the actor's scope (``PermissionDenied``).
    ``customers_by_id``: customers a bulk import loaded for its batch, read from there."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if values.get("order_id") is not None and ctx.session.get(Order, values["order_id"]) is None:
            errors["order_id"] = [_("Order %(id)s does not exist.", id=values["order_id"])]
        check_user(ctx, values.get("owner_id"), "owner_id", errors)
        return errors

    data = load(_INVOICE, data, partial=existing is not None, message=INVALID["invoice"], check=check)
    customer_id = data.get("customer_id", existing.customer_id if existing else None)
    known = customers_by_id.get(customer_id) if customers_by_id and customer_id is not None else None
    if data.get("customer_id") is not None:  # a deleted or merged-away customer takes no invoices (422)
        live_customer(ctx, data["customer_id"], known=known)
    _check_customer(ctx, customer_id, known)
    return data


_NEW_INVOICE = {"amount_paid": ZERO, "state": "open", "source": "crm"}


def new_invoice(ctx: ServiceContext, data: dict[str, Any], customer: Customer | None = None
                ) -> tuple[Invoice, dict[str, list[Any]]]:
    """A new invoice holding validated ``data`` and its changes (``{field: [None or the default, value]}``):
    the owner and currency of its order, else of its customer, unless given; the state following the
    payments (open) unless ``draft`` or ``cancelled``. Built without attribute events (a batch builds
    thousands); added to a session, it is inserted as any new record. ``customer``: the invoice's customer
    when the caller has it (a bulk import's batch)."""
    order = ctx.session.get(Order, data["order_id"]) if data.get("order_id") is not None else None
    if order is None and (customer is None or customer.id != data["customer_id"]):
        customer = ctx.session.get(Customer, data["customer_id"])
    parent: Any = order if order is not None else customer
    data.setdefault("owner_id", parent.owner_id)
    data.setdefault("currency", parent.currency)
    values, changes = new_values(_NEW_INVOICE, data, INVOICE_FIELDS)
    invoice = transient(Invoice, values)
    state = _state(invoice, data.get("state", "open"))
    if state != "open":
        invoice.__dict__["state"] = state  # (no attribute event: not yet in a session)
        changes["state"] = ["open", state]
    return invoice, changes


def invoice_differs(invoice: Invoice, data: dict[str, Any]) -> bool:
    """Whether :func:`apply_invoice` would change the stored ``invoice`` (nothing is written)."""
    return any(name in data and getattr(invoice, name) != data[name] for name in INVOICE_FIELDS) or \
        _state(invoice, data.get("state", invoice.state)) != invoice.state


def apply_invoice(invoice: Invoice, data: dict[str, Any]) -> dict[str, list[Any]]:
    """Write cleaned invoice data on ``invoice``, its state following the payments; return the changes."""
    changes = apply_changes(invoice, data, INVOICE_FIELDS)
    changes.update(apply_changes(invoice, {"state": _state(invoice, data.get("state", invoice.state))}, ("state",)))
    return changes


def record_invoice(ctx: ServiceContext, data: dict[str, Any]) -> Invoice:
    """Create or update (by ``number``) an invoice. Its state follows the payments (open, partial,
    paid) unless it is ``draft`` or ``cancelled``; the owner defaults to the order's or customer's."""
    ctx.require("sales.order.write")
    number = lookup_key(data.get("number"), Invoice.number)
    existing = ctx.session.scalar(select(Invoice).where(Invoice.number == number)) if number else None
    data = validate_invoice(ctx, data, existing)
    creating = existing is None
    with unit_of_work(ctx):
        if existing is None:
            invoice, changes = new_invoice(ctx, data)
            ctx.session.add(invoice)
        else:
            invoice, changes = existing, apply_invoice(existing, data)
        if not changes and not creating:
            return invoice
        ctx.hook.crm_before_save(ctx=ctx, entity="invoice", obj=invoice, changes=changes, created=creating)
        ctx.session.flush()
        action = "created" if creating else "updated"
        record_change(ctx, "invoice", action, invoice.id, changes, event_name=f"sales.invoice.{action}",
                      data={"number": invoice.number, "customer_id": invoice.customer_id})
    return invoice


def validate_payment(ctx: ServiceContext, invoice: Invoice, data: dict[str, Any], *,
                     recorded: bool = False) -> dict[str, Any]:
    """A payment of ``invoice`` checked and converted, the one validation every path shares (API, ERP
    sync, importer): ``PaymentSchema``, then the invoice's currency (the default) and an invoice that
    can be paid (not a draft, not cancelled), unless the payment is ``recorded`` already (its reference
    is known: it is only compared with the one recorded)."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if values.get("currency") and values["currency"] != invoice.currency:
            errors["currency"] = [_("The invoice is in %(currency)s; record the payment in that currency.",
                                    currency=invoice.currency)]
        if invoice.state in ("draft", "cancelled") and not recorded:
            errors["invoice_id"] = [_("The invoice is %(state)s; it cannot be paid.", state=invoice.state)]
        return errors

    data = load(_PAYMENT, data, partial=False, message=INVALID["payment"], check=check)
    return {"amount": data["amount"], "paid_on": data["paid_on"], "currency": data.get("currency") or invoice.currency,
            "reference": data.get("reference"), "source": data.get("source") or "crm"}


def earlier_payment(invoice: Invoice, reference: str | None, earlier: Payment | None) -> Payment | None:
    """The payment already recorded under ``reference`` (``earlier``, looked up by the caller) when it is
    this invoice's; ``Conflict`` when the reference is another invoice's."""
    if reference and earlier is not None:
        if earlier.invoice_id != invoice.id:
            raise Conflict(_("Payment reference '%(reference)s' is already used for another invoice.",
                             reference=reference))
        return earlier
    return None


def pay(invoice: Invoice, amount: Decimal) -> tuple[Decimal, str]:
    """Add ``amount`` to what is paid of ``invoice`` and set its state; return what was paid and its state before."""
    before = (invoice.amount_paid, invoice.state)
    invoice.amount_paid = cents(invoice.amount_paid + amount)
    invoice.state = _state(invoice, None)
    return before


def record_payment(ctx: ServiceContext, invoice_id: int, data: dict[str, Any]) -> Payment:
    """Record a (possibly partial) payment of an invoice; a known ``reference`` returns the earlier one."""
    ctx.require("sales.order.write")
    invoice = get_invoice(ctx, invoice_id)
    reference = lookup_key(data.get("reference"), Payment.reference)
    if reference:
        earlier = earlier_payment(invoice, reference,
                                  ctx.session.scalar(select(Payment).where(Payment.reference == reference)))
        if earlier is not None:
            return earlier
    clean = validate_payment(ctx, invoice, data)
    with unit_of_work(ctx):
        payment = Payment(invoice_id=invoice.id, **clean)
        ctx.session.add(payment)
        before = pay(invoice, clean["amount"])
        ctx.session.flush()
        record_change(ctx, "payment", "created", payment.id, {"amount": [None, payment.amount]},
                      event_name="sales.payment.recorded",
                      data={"invoice_id": invoice.id, "customer_id": invoice.customer_id})
        record_change(ctx, "invoice", "updated", invoice.id,
                      {"amount_paid": [before[0], invoice.amount_paid], "state": [before[1], invoice.state]},
                      event_name="sales.invoice.paid" if invoice.state == "paid" else "sales.invoice.updated")
    return payment


def customer_summary(ctx: ServiceContext, customer_id: int, *, today: dt.date | None = None) -> dict[str, Any]:
    """A customer's order history and receivables: per currency, orders and amount due (overdue too)."""
    customer = get_customer(ctx, customer_id)
    ctx.require("sales.order.read")
    today = today or dt.date.today()
    orders = {}
    for currency, n, total, last in ctx.session.execute(
            select(Order.currency, func.count(), func.sum(Order.total), func.max(Order.order_date))
            .where(Order.customer_id == customer.id, Order.status != "cancelled").group_by(Order.currency)):
        orders[currency] = {"count": n, "total": cents(total), "last_order_date": last}
    due = {}
    open_states = ("open", "partial")
    outstanding = Invoice.amount_total - Invoice.amount_paid
    for currency, amount, overdue in ctx.session.execute(
            select(Invoice.currency, func.sum(outstanding),
                   func.sum(outstanding).filter(Invoice.due_date < today))
            .where(Invoice.customer_id == customer.id, Invoice.state.in_(open_states)).group_by(Invoice.currency)):
        due[currency] = {"amount_due": cents(amount), "overdue": cents(overdue)}
    recent, _total = list_orders(ctx, customer_id=customer.id, page_size=10)
    return {"customer_id": customer.id, "orders": orders, "receivables": due, "recent_orders": recent}

