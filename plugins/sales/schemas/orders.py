"""Schemas of quotes, orders, invoices and payments, and a customer's sales."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmcore.schemas.common import CursorPageArgs, PageArgs, page_of

from crmcore.i18n import _
from crmcore.schemas.columns import BLANK, Amount, length_of, text
from crmcore.schemas.columns import Currency as CurrencyCode

from ..models import (INVOICE_STATES, ORDER_STATUSES, QUOTE_STATUSES, SOURCES, Invoice, Order, OrderLine, Payment,
                      Quote, QuoteLine)
from .common import Discount, Lines, Money, Quantity, VERSION, more_than_zero


class QuoteLineSchema(Schema):
    id = fields.Int(dump_only=True)
    product_id = fields.Int(allow_none=True)
    description = text(QuoteLine.description, empty=True, blank_none=True,
                       metadata={"description": "Default: the product's name"})
    quantity = Quantity(positive=True, load_default=1)
    unit_price = Amount(allow_none=True, metadata={"description": "Defaults to the list price"})
    list_price = Money(dump_only=True)
    discount_percent = Discount(allow_none=True)
    line_total = Money(dump_only=True)


class QuoteSchema(Schema):
    """A quote and its lines: the one declaration of their fields' rules."""

    id = fields.Int(dump_only=True)
    number = fields.Str(dump_only=True)
    customer_id = fields.Int(required=True, error_messages={"required": _("Say which customer the quote is for."),
                                                            "null": _("Say which customer the quote is for.")})
    opportunity_id = fields.Int(allow_none=True)
    owner_id = fields.Int(allow_none=True)
    price_list_id = fields.Int(allow_none=True)
    currency = CurrencyCode(allow_none=True, metadata={"description": "Default: the price list's, else the customer's",
                                                       "maxLength": length_of(Quote.currency)})
    status = fields.Str(dump_only=True, metadata={"description": str(QUOTE_STATUSES)})
    valid_until = fields.Date(allow_none=True)
    discount_percent = Discount(allow_none=True, metadata={"description": "Overall discount on the sum of the lines"})
    notes = fields.Str(allow_none=True)
    lines = Lines(QuoteLineSchema)
    list_total = Money(dump_only=True)
    subtotal = Money(dump_only=True)
    discount_total = Money(dump_only=True)
    total = Money(dump_only=True)
    effective_discount_percent = Money(dump_only=True)
    max_line_discount_percent = Money(dump_only=True)
    requires_approval = fields.Bool(dump_only=True)
    decided_by_id = fields.Int(dump_only=True)
    decided_at = fields.AwareDateTime(dump_only=True)
    decision_note = fields.Str(dump_only=True)
    version = fields.Int(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class QuoteUpdateSchema(QuoteSchema):
    version = fields.Int(load_only=True, metadata=VERSION)


class QuoteListArgs(PageArgs):
    customer_id = fields.Int()
    opportunity_id = fields.Int()
    status = fields.Str(validate=validate.OneOf(QUOTE_STATUSES))


class DecisionSchema(Schema):
    note = fields.Str(validate=validate.Length(max=2000))


class QuoteActionSchema(Schema):
    action = fields.Str(required=True, validate=validate.OneOf(("send", "accept", "decline", "cancel")))


class ToOrderSchema(Schema):
    order_date = fields.Date()


class OrderLineSchema(Schema):
    id = fields.Int(dump_only=True)
    product_id = fields.Int(allow_none=True)
    description = text(OrderLine.description, empty=True, blank_none=True,
                       metadata={"description": "Default: the product's name"})
    quantity = Quantity(load_default=1)
    unit_price = Amount(required=True, error_messages={"null": BLANK})
    list_price = Amount(allow_none=True)
    discount_percent = Discount(allow_none=True)
    line_total = Amount(allow_none=True, metadata={"description": "Default: quantity x unit price less the discount"})


class OrderSchema(Schema):
    """An order and its lines: the one declaration of their fields' rules (lengths, choices from the models)."""

    id = fields.Int(dump_only=True)
    number = text(Order.number, required=True, error_messages={"required": _("An order needs a number.")})
    customer_id = fields.Int(required=True, error_messages={"required": _("Say which customer ordered."),
                                                            "null": _("Say which customer ordered.")})
    owner_id = fields.Int(allow_none=True)
    quote_id = fields.Int(dump_only=True)
    opportunity_id = fields.Int(allow_none=True)
    order_date = fields.Date(required=True, error_messages={"required": _("An order needs a date."),
                                                            "null": _("An order needs a date.")})
    currency = CurrencyCode(error_messages={"null": BLANK}, metadata={"maxLength": length_of(Order.currency)})
    status = text(Order.status, choices=ORDER_STATUSES)
    total = Amount(allow_none=True, metadata={"description": "Default: the sum of the lines' totals less the "
                                                             "coupon's discount"})
    list_total = Amount(allow_none=True)
    source = text(Order.source, choices=SOURCES)
    coupon_code = text(Order.coupon_code, blank_none=True, metadata={
        "description": "A coupon's code: its discount is computed on the server; empty removes the coupon"})
    coupon_discount = Money(dump_only=True)
    lines = Lines(OrderLineSchema)
    version = fields.Int(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class OrderListArgs(CursorPageArgs):
    customer_id = fields.Int()
    status = fields.Str(validate=validate.OneOf(ORDER_STATUSES))


class InvoiceSchema(Schema):
    """An invoice: the one declaration of its fields' rules."""

    id = fields.Int(dump_only=True)
    number = text(Invoice.number, required=True, error_messages={"required": _("An invoice needs a number.")})
    customer_id = fields.Int(required=True, error_messages={"required": _("Say which customer is invoiced."),
                                                            "null": _("Say which customer is invoiced.")})
    order_id = fields.Int(allow_none=True)
    owner_id = fields.Int(allow_none=True)
    invoice_date = fields.Date(required=True)
    due_date = fields.Date(required=True)
    currency = CurrencyCode(error_messages={"null": BLANK}, metadata={"maxLength": length_of(Invoice.currency)})
    amount_total = Amount(required=True, error_messages={"null": BLANK})
    amount_paid = Money(dump_only=True)
    amount_due = Money(dump_only=True)
    state = text(Invoice.state, choices=INVOICE_STATES, empty=True,
                 metadata={"description": "draft or cancelled; empty: it follows the payments"})
    source = text(Invoice.source, choices=SOURCES)
    version = fields.Int(dump_only=True)


class InvoiceListArgs(PageArgs):
    customer_id = fields.Int()
    state = fields.Str(validate=validate.OneOf(INVOICE_STATES))
    overdue = fields.Bool(load_default=False)


class PaymentSchema(Schema):
    """A payment of an invoice: the one declaration of its fields' rules."""

    id = fields.Int(dump_only=True)
    invoice_id = fields.Int(dump_only=True)
    paid_on = fields.Date(required=True)
    amount = Amount(required=True, validate=more_than_zero, error_messages={"null": BLANK})
    currency = CurrencyCode(allow_none=True, metadata={"description": "Must be the invoice's (default)",
                                                       "maxLength": length_of(Payment.currency)})
    reference = text(Payment.reference, blank_none=True,
                     metadata={"description": "Idempotency: a known reference is not paid twice"})
    source = text(Payment.source, choices=SOURCES)


class CurrencyOrdersSchema(Schema):
    count = fields.Int()
    total = Money()
    last_order_date = fields.Date(allow_none=True)


class CurrencyDueSchema(Schema):
    amount_due = Money()
    overdue = Money(allow_none=True)


class CustomerSalesSchema(Schema):
    customer_id = fields.Int()
    orders = fields.Dict(keys=fields.Str(metadata={"description": "currency"}), values=fields.Nested(CurrencyOrdersSchema))
    receivables = fields.Dict(keys=fields.Str(metadata={"description": "currency"}), values=fields.Nested(CurrencyDueSchema))
    recent_orders = fields.List(fields.Nested(OrderSchema(exclude=("lines",))))


QuotePage = page_of(QuoteSchema(exclude=("lines",)), "QuotePage")
OrderPage = page_of(OrderSchema(exclude=("lines",)), "OrderPage", cursor=True)
InvoicePage = page_of(InvoiceSchema, "InvoicePage")
