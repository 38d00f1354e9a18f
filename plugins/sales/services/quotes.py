"""Quotes with lines: per-line and overall discounts, totals, discount approval, quote -> order.

States: ``draft`` -> submit -> ``approved`` (or ``pending_approval`` -> approve/reject ->
``approved`` / ``rejected``) -> ``sent`` -> ``accepted`` / ``declined``; ``approved``, ``sent``
or ``accepted`` -> ``ordered``. Editing a rejected or approved quote puts it back to ``draft``.
Editing one under review: with an approval policy, a change of one of its key fields ends the review
and opens a new one on the changed quote (or approves it at once when the change made approval
unnecessary), other changes leave the review running; under the sales threshold alone, the changed
quote is submitted again. Nobody approves what they did not see.
Every step is an event (``sales.quote.submitted``, ``.approval_requested``, ``.approved``,
``.rejected``, ...) so a workflow can route the approval to an OA and answer through
:func:`approve_quote` / :func:`reject_quote`.
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select

from crmcore.db import utcnow
from crmcore.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services import approvals
from crmcore.services.customers import check_version, live_customer
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import PriceList, Product, Quote, QuoteLine
from . import access
from .catalog import price_of
from ..schemas.orders import QuoteSchema
from .common import INVALID, check_user, new_number, raise_if
from .money import ZERO, cents
from .order_lines import check_products
from .orders import create_order_from_quote
from .status_words import status_word

HEADER_FIELDS = ("customer_id", "opportunity_id", "owner_id", "price_list_id", "currency", "valid_until",
                 "discount_percent", "notes")
EDITABLE = ("draft", "rejected", "approved", "pending_approval")
ORDERABLE = ("approved", "sent", "accepted")
HUNDRED = Decimal(100)
PCT = Decimal("0.01")
_SCHEMA = QuoteSchema()


def get_quote(ctx: ServiceContext, quote_id: int, *, permission: str = "sales.quote.read") -> Quote:
    ctx.require(permission)
    quote = ctx.session.get(Quote, quote_id)
    if quote is None:
        raise NotFound(_("Quote %(id)s does not exist.", id=quote_id))
    access.check_owned(ctx, quote.owner_id, "quote")
    return quote


def list_quotes(ctx: ServiceContext, *, customer_id: int | None = None, opportunity_id: int | None = None,
                status: str | None = None, page: int = 1, page_size: int = 25) -> tuple[list[Quote], int]:
    ctx.require("sales.quote.read")
    stmt = access.scope_owned(ctx, select(Quote), Quote.owner_id)
    if customer_id is not None:
        stmt = stmt.where(Quote.customer_id == customer_id)
    if opportunity_id is not None:
        stmt = stmt.where(Quote.opportunity_id == opportunity_id)
    if status:
        stmt = stmt.where(Quote.status == status)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(Quote.id.desc()).offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)


def _build_lines(ctx: ServiceContext, raw_lines: list[dict[str, Any]], currency: str, price_list: PriceList | None,
                 errors: dict[str, list[str]]) -> list[QuoteLine]:
    """Quote lines of validated input: the price of each (the list price unless given, from the price list
    when it has the product), in the quote's currency, and its total."""
    lines = []
    for i, raw in enumerate(raw_lines):
        where = f"lines.{i}"
        product = ctx.session.get(Product, raw["product_id"]) if raw.get("product_id") is not None else None
        description = raw.get("description") or (product.name if product else "")
        if not description:
            errors.setdefault(where, []).append(_("A line without a product needs a description."))
        qty, unit_price = raw["quantity"], raw.get("unit_price")
        list_price = None
        if product is not None:
            list_price, list_currency = price_of(ctx, product, price_list)
            if list_currency != currency:
                errors.setdefault(where, []).append(
                    _("The product's list price is in %(list_currency)s; use a price list in %(currency)s.",
                      list_currency=list_currency, currency=currency))
                continue
        if unit_price is None:
            if list_price is None:
                errors.setdefault(f"{where}.unit_price", []).append(_("A line without a product needs a unit price."))
                continue
            unit_price = list_price
        if list_price is None:
            list_price = unit_price
        discount = raw.get("discount_percent") or ZERO
        total = cents(qty * unit_price * (HUNDRED - discount) / HUNDRED)
        lines.append(QuoteLine(position=i, product_id=product.id if product else None, description=description,
                               quantity=qty, list_price=list_price, unit_price=unit_price, discount_percent=discount,
                               line_total=total))
    return lines


def compute_totals(quote: Quote) -> None:
    """Totals from the lines and the overall discount.

    ``line_total = round(quantity * unit_price * (1 - line discount))``; ``list_total`` is the sum
    of ``quantity * list_price``; ``subtotal`` the sum of line totals; ``discount_total =
    round(subtotal * overall discount)``; ``total = subtotal - discount_total``. The effective
    discount is ``1 - total / list_total``; a line's is ``1 - line_total / (quantity * list_price)``.
    """
    list_total = cents(sum((ln.quantity * ln.list_price for ln in quote.lines), ZERO))
    subtotal = cents(sum((ln.line_total for ln in quote.lines), ZERO))
    discount_total = cents(subtotal * (quote.discount_percent or ZERO) / HUNDRED)
    quote.list_total, quote.subtotal, quote.discount_total = list_total, subtotal, discount_total
    quote.total = subtotal - discount_total
    quote.effective_discount_percent = _discount_pct(quote.total, list_total)
    quote.max_line_discount_percent = max(
        (_discount_pct(ln.line_total, ln.quantity * ln.list_price) for ln in quote.lines), default=ZERO)


def _discount_pct(actual: Decimal, listed: Decimal) -> Decimal:
    if not listed or listed <= 0:
        return ZERO
    return max(ZERO, ((1 - Decimal(actual) / Decimal(listed)) * HUNDRED).quantize(PCT, rounding=ROUND_HALF_UP))


def validate_quote(ctx: ServiceContext, data: dict[str, Any], existing: Quote | None) -> dict[str, Any]:
    """A quote's input checked and converted, the one validation of a quote: ``QuoteSchema`` with its lines
    (all fields for a new quote, those given for ``existing``), then a customer that stays the same, an
    owner, a price list and the lines' products that exist. An empty overall discount is 0. Prices and
    totals are the service's (:func:`create_quote`, :func:`update_quote`)."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if existing is not None and "customer_id" in values and values["customer_id"] != existing.customer_id:
            errors["customer_id"] = [_("A quote cannot move to another customer.")]
        check_user(ctx, values.get("owner_id"), "owner_id", errors)
        if values.get("price_list_id") is not None and ctx.session.get(PriceList, values["price_list_id"]) is None:
            errors["price_list_id"] = [_("Price list %(id)s does not exist.", id=values["price_list_id"])]
        check_products(ctx, values.get("lines"), errors)
        return errors

    data = load(_SCHEMA, data, partial=existing is not None, message=INVALID["quote"], check=check)
    if "discount_percent" in data and data["discount_percent"] is None:
        data["discount_percent"] = ZERO
    if "currency" in data and data["currency"] is None:
        data.pop("currency")  # empty: the price list's or the customer's (new), else the quote's
    return data


def _price_list(ctx: ServiceContext, data: dict[str, Any], existing: Quote | None) -> PriceList | None:
    pl_id = data.get("price_list_id", existing.price_list_id if existing else None)
    return ctx.session.get(PriceList, pl_id) if pl_id is not None else None


def _check_opportunity(ctx: ServiceContext, quote: Quote) -> None:
    if quote.opportunity_id is None:
        return
    from .opportunities import get_opportunity

    opp = get_opportunity(ctx, quote.opportunity_id)
    if opp.customer_id != quote.customer_id:
        raise ValidationError(_("The opportunity is for another customer."),
                              errors={"opportunity_id": [_("Choose an opportunity of the same customer.")]})


def create_quote(ctx: ServiceContext, data: dict[str, Any]) -> Quote:
    """Create a draft quote with ``lines`` (``product_id``, ``description``, ``quantity``,
    ``unit_price`` (default: the list price), ``discount_percent``)."""
    ctx.require("sales.quote.write")
    data = validate_quote(ctx, data, None)
    price_list = _price_list(ctx, data, None)
    customer = live_customer(ctx, data["customer_id"])
    if "owner_id" not in data:
        data["owner_id"] = ctx.actor.id if ctx.actor is not None else customer.owner_id
    access.may_assign(ctx, data["owner_id"], "quote")
    currency = data.get("currency") or (price_list.currency if price_list else customer.currency)
    errors: dict[str, list[str]] = {}
    if price_list is not None and price_list.currency != currency:
        errors["price_list_id"] = [_("The price list is in %(list_currency)s, the quote in %(currency)s.",
                                      list_currency=price_list.currency, currency=currency)]
    lines = _build_lines(ctx, data.get("lines") or [], currency, price_list, errors)
    raise_if(errors, "quote")
    with unit_of_work(ctx):
        quote = Quote(number=new_number("Q"), status="draft", currency=currency, discount_percent=ZERO)
        changes = apply_changes(quote, {**data, "currency": currency}, HEADER_FIELDS)
        quote.lines = lines
        compute_totals(quote)
        _check_opportunity(ctx, quote)
        ctx.session.add(quote)
        ctx.hook.crm_before_save(ctx=ctx, entity="quote", obj=quote, changes=changes, created=True)
        ctx.session.flush()
        changes["total"] = [None, quote.total]
        record_change(ctx, "quote", "created", quote.id, changes, event_name="sales.quote.created",
                      data={"number": quote.number})
    return quote


def update_quote(ctx: ServiceContext, quote_id: int, data: dict[str, Any], *, expected_version: int | None = None,
                 if_match: bool = False) -> Quote:
    """Change a draft, rejected or approved quote (back to draft), or one under review (see the module's
    docstring); ``lines``, when given, replace all."""
    quote = get_quote(ctx, quote_id, permission="sales.quote.write")
    check_version(quote, expected_version, if_match)
    if quote.status not in EDITABLE:
        raise Conflict(_("The quote is %(status)s; it cannot be changed now.", status=status_word(quote.status)))
    data = validate_quote(ctx, data, quote)
    price_list = _price_list(ctx, data, quote)
    if "owner_id" in data and data["owner_id"] != quote.owner_id:
        access.may_assign(ctx, data["owner_id"], "quote")
    currency = data.get("currency") or quote.currency
    errors: dict[str, list[str]] = {}
    if price_list is not None and price_list.currency != currency:
        errors["price_list_id"] = [_("The price list is in %(list_currency)s, the quote in %(currency)s.",
                                      list_currency=price_list.currency, currency=currency)]
    lines = _build_lines(ctx, data["lines"], currency, price_list, errors) if "lines" in data else None
    raise_if(errors, "quote")
    with unit_of_work(ctx):
        before_total = quote.total
        changes = apply_changes(quote, data, HEADER_FIELDS)
        if lines is not None:
            quote.lines = lines
            changes["lines"] = [None, len(lines)]
        compute_totals(quote)
        if quote.total != before_total:
            changes["total"] = [before_total, quote.total]
        if not changes:
            return quote
        under_review = quote.status == "pending_approval"
        running = approvals.open_request(ctx, "quote", quote.id) if under_review else None
        if quote.status != "draft" and running is None:
            changes["status"] = [quote.status, "draft"]
            quote.status = "draft"
            quote.requires_approval = False
        _check_opportunity(ctx, quote)
        # a running approval policy restarts its review here when a key field changed (the core's listener)
        ctx.hook.crm_before_save(ctx=ctx, entity="quote", obj=quote, changes=changes, created=False)
        ctx.session.flush()
        record_change(ctx, "quote", "updated", quote.id, changes, event_name="sales.quote.updated")
        if running is not None and running.status not in approvals.OPEN \
                and approvals.open_request(ctx, "quote", quote.id) is None:
            _transition(ctx, quote, "approved", "approved", data={"automatic": True})  # the change made it unneeded
        elif under_review and running is None:
            _submit(ctx, quote)  # under the sales threshold alone: submitted again as changed
    return quote


def approval_threshold(ctx: ServiceContext) -> Decimal | None:
    """``SALES_DISCOUNT_APPROVAL_THRESHOLD`` (percent), or None: no discount needs approval."""
    raw = ctx.settings.get("SALES_DISCOUNT_APPROVAL_THRESHOLD")
    if raw is None:
        raw = (ctx.settings.get("SALES") or {}).get("discount_approval_threshold")
    return None if raw in (None, "") else Decimal(str(raw))


def needs_approval(ctx: ServiceContext, quote: Quote) -> bool:
    """Ask the plugins (``crm_sales_discount_approval``), else compare the largest discount with the threshold."""
    answer = ctx.hook.crm_sales_discount_approval(ctx=ctx, quote=quote)
    if answer is not None:
        return bool(answer)
    threshold = approval_threshold(ctx)
    if threshold is None:
        return False
    return quote.largest_discount_percent > threshold


def _transition(ctx: ServiceContext, quote: Quote, status: str, event: str, **extra: Any) -> Quote:
    data = extra.pop("data", {})
    changes = apply_changes(quote, {"status": status, **extra}, ("status", *extra))
    ctx.session.flush()
    record_change(ctx, "quote", "updated", quote.id, changes, event_name=f"sales.quote.{event}",
                  data={"number": quote.number, "total": quote.total, "currency": quote.currency,
                        "effective_discount_percent": quote.effective_discount_percent,
                        "max_line_discount_percent": quote.max_line_discount_percent, **data})
    return quote


def submit_quote(ctx: ServiceContext, quote_id: int) -> Quote:
    """Submit a draft: it is approved at once, or waits in ``pending_approval`` when its discount needs it."""
    quote = get_quote(ctx, quote_id, permission="sales.quote.write")
    if quote.status != "draft":
        raise Conflict(_("Only a draft can be submitted; this quote is %(status)s.",
                         status=status_word(quote.status)))
    with unit_of_work(ctx):
        _submit(ctx, quote)
    return quote


def _submit(ctx: ServiceContext, quote: Quote) -> None:
    """Submit a draft in the caller's transaction: approved at once, or ``pending_approval``."""
    if not quote.lines:
        raise ValidationError(_("The quote has no lines."), errors={"lines": [_("Add at least one line.")]})
    needed = needs_approval(ctx, quote)
    quote.requires_approval = needed
    _transition(ctx, quote, "draft", "submitted", data={"requires_approval": needed})
    if needed:
        _transition(ctx, quote, "pending_approval", "approval_requested",
                    data={"threshold": approval_threshold(ctx), "owner_id": quote.owner_id})
    else:
        _transition(ctx, quote, "approved", "approved", data={"automatic": True})


def _decide(ctx: ServiceContext, quote_id: int, approve: bool, note: str | None) -> Quote:
    quote = get_quote(ctx, quote_id, permission="sales.quote.approve")
    if quote.status != "pending_approval":
        raise Conflict(_("The quote is %(status)s, not waiting for approval.", status=status_word(quote.status)))
    if ctx.actor is not None:
        # A person may not bypass a running approval policy (its tiers, quorum, OA): decide there.
        running = approvals.open_request(ctx, "quote", quote.id)
        if running is not None:
            raise Conflict(_("This quote's approval runs as approval request %(id)s (%(provider)s); decide it "
                             "in the approvals inbox.", id=running.id, provider=running.provider))
    if ctx.actor is not None and quote.owner_id == ctx.actor.id:
        raise PermissionDenied(_("You cannot decide on your own quote; another approver must."))
    if not approve and not (note or "").strip():
        raise ValidationError(_("Say why the quote is rejected."), errors={"note": [_("Required when rejecting.")]})
    with unit_of_work(ctx):
        return _transition(ctx, quote, "approved" if approve else "rejected", "approved" if approve else "rejected",
                           decided_by_id=getattr(ctx.actor, "id", None), decided_at=utcnow(), decision_note=note)


def approve_quote(ctx: ServiceContext, quote_id: int, note: str | None = None) -> Quote:
    """Approve a quote waiting for approval (the workflow/OA callback calls this too)."""
    return _decide(ctx, quote_id, True, note)


def reject_quote(ctx: ServiceContext, quote_id: int, note: str) -> Quote:
    """Reject a quote waiting for approval; the rep may change it and submit again."""
    return _decide(ctx, quote_id, False, note)


_MOVES = {"send": (("approved",), "sent"), "accept": (("approved", "sent"), "accepted"),
          "decline": (("approved", "sent"), "declined"),
          "cancel": (("draft", "pending_approval", "approved", "rejected", "sent"), "cancelled")}


def set_status(ctx: ServiceContext, quote_id: int, action: str) -> Quote:
    """``send``, ``accept``, ``decline`` or ``cancel`` a quote."""
    if action not in _MOVES:
        raise ValidationError(_("Unknown action."),
                              errors={"action": [_("One of: %(choices)s.", choices=", ".join(_MOVES))]})
    quote = get_quote(ctx, quote_id, permission="sales.quote.write")
    allowed, target = _MOVES[action]
    if quote.status not in allowed:
        raise Conflict(_("A quote that is %(status)s cannot be %(target)s.", status=status_word(quote.status),
                         target=status_word(target)))
    with unit_of_work(ctx):
        return _transition(ctx, quote, target, target)


def convert_to_order(ctx: ServiceContext, quote_id: int, *, order_date: dt.date | None = None) -> Any:
    """Turn an approved, sent or accepted quote into a confirmed order with the same lines and totals."""
    quote = get_quote(ctx, quote_id, permission="sales.quote.write")
    ctx.require("sales.order.read")
    if quote.status not in ORDERABLE:
        status = status_word(quote.status)
        if quote.status == "pending_approval":
            raise Conflict(_("A quote that is %(status)s cannot become an order. It needs approval first.",
                             status=status))
        raise Conflict(_("A quote that is %(status)s cannot become an order.", status=status))
    with unit_of_work(ctx):
        order = create_order_from_quote(ctx, quote, order_date)
        _transition(ctx, quote, "ordered", "ordered", data={"order_id": order.id})
    return order

