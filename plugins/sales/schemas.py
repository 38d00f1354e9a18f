"""Marshmallow schemas of the sales API: what each endpoint reads and returns (OpenAPI from these)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmcore.i18n import _
from crmcore.schemas.common import PageArgs, Search, page_of

from .models import (ACTIVITY_KINDS, ACTIVITY_STATUSES, INVOICE_STATES, LEAD_CHANNELS, LEAD_STATUSES,
                     OPPORTUNITY_STATUSES, ORDER_STATUSES, QUOTE_STATUSES, SOURCES, VISIT_OUTCOMES)

_str = lambda n, **kw: fields.Str(validate=validate.Length(max=n), **kw)  # noqa: E731
Money = lambda **kw: fields.Decimal(as_string=True, places=2, **kw)  # noqa: E731
Pct = lambda **kw: fields.Decimal(as_string=True, places=2, validate=validate.Range(min=0, max=100), **kw)  # noqa: E731
Currency = lambda **kw: fields.Str(validate=validate.Regexp(r"^[A-Za-z]{3}$", error=_("Use a three-letter code.")), **kw)  # noqa: E731
VERSION = {"description": "Version you read; a stale one gives 409"}


class VersionMixin(Schema):
    version = fields.Int(metadata=VERSION)


# --- leads ---------------------------------------------------------------------------------------

class LeadSchema(Schema):
    id = fields.Int(dump_only=True)
    name = _str(255, required=True, metadata={"description": "The person or the company"})
    company = _str(255, allow_none=True)
    contact_name = _str(255, allow_none=True)
    title = _str(120, allow_none=True)
    phone = _str(40, allow_none=True)
    email = _str(255, allow_none=True)
    wechat = _str(120, allow_none=True)
    source_channel = fields.Str(validate=validate.OneOf(LEAD_CHANNELS))
    campaign = _str(120, allow_none=True)
    message = fields.Str(allow_none=True, validate=validate.Length(max=5000))
    estimated_amount = Money(allow_none=True)
    currency = Currency()
    owner_id = fields.Int(allow_none=True)
    # every state a lead can be in (the answer shows them all); the service takes only new/working as input
    status = fields.Str(validate=validate.OneOf(LEAD_STATUSES), metadata={"description": "qualified and disqualified only through their actions"})
    customer_id = fields.Int(dump_only=True)
    contact_id = fields.Int(dump_only=True)
    opportunity_id = fields.Int(dump_only=True)
    disqualified_reason = fields.Str(dump_only=True)
    qualified_at = fields.AwareDateTime(dump_only=True)
    version = fields.Int(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class LeadUpdateSchema(LeadSchema):
    version = fields.Int(load_only=True, metadata=VERSION)


class LeadListArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf(LEAD_STATUSES))
    source_channel = fields.Str()
    owner_id = fields.Int()
    q = Search()


class BulkLeadsSchema(Schema):
    leads = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=1000))


class QualifySchema(Schema):
    customer_id = fields.Int(allow_none=True, metadata={"description": "Use this customer instead of matching"})
    create_opportunity = fields.Bool(load_default=True)
    name = _str(255, metadata={"description": "The opportunity's name"})
    amount = Money()
    currency = Currency()
    expected_close_date = fields.Date()
    stage_id = fields.Int()
    probability = fields.Int(validate=validate.Range(min=0, max=100))


class QualifyResultSchema(Schema):
    lead = fields.Nested(LeadSchema)
    customer_id = fields.Int()
    contact_id = fields.Int()
    opportunity_id = fields.Int(allow_none=True)
    customer_created = fields.Bool()
    matched_by = fields.Str(allow_none=True)


class ReasonSchema(Schema):
    reason = _str(255, required=True)


# --- stages and opportunities ----------------------------------------------------------------------

class StageSchema(Schema):
    id = fields.Int(dump_only=True)
    name = _str(64, required=True)
    sequence = fields.Int(load_default=10)
    probability = fields.Int(validate=validate.Range(min=0, max=100))
    is_won = fields.Bool(load_default=False)
    is_lost = fields.Bool(load_default=False)
    active = fields.Bool(load_default=True)


class OpportunitySchema(Schema):
    id = fields.Int(dump_only=True)
    name = _str(255, required=True)
    customer_id = fields.Int(required=True)
    contact_id = fields.Int(allow_none=True)
    owner_id = fields.Int(allow_none=True)
    amount = Money()
    currency = Currency()
    expected_close_date = fields.Date(allow_none=True)
    probability = fields.Int(validate=validate.Range(min=0, max=100),
                             metadata={"description": "Defaults to the stage's probability"})
    stage_id = fields.Int()
    stage = fields.Pluck(StageSchema, "name", dump_only=True)
    status = fields.Str(dump_only=True, metadata={"description": str(OPPORTUNITY_STATUSES)})
    lost_reason = _str(255, allow_none=True)
    competitor = _str(255, allow_none=True)
    source_channel = _str(32, allow_none=True)
    lead_id = fields.Int(dump_only=True)
    notes = fields.Str(allow_none=True)
    stage_entered_at = fields.AwareDateTime(dump_only=True)
    closed_at = fields.AwareDateTime(dump_only=True)
    cycle_seconds = fields.Int(dump_only=True)
    version = fields.Int(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class OpportunityUpdateSchema(OpportunitySchema):
    version = fields.Int(load_only=True, metadata=VERSION)


class OpportunityListArgs(PageArgs):
    stage_id = fields.Int()
    status = fields.Str(validate=validate.OneOf(OPPORTUNITY_STATUSES))
    owner_id = fields.Int()
    customer_id = fields.Int()
    q = Search()
    sort = fields.Str(load_default="-updated_at")


class MoveSchema(Schema):
    stage_id = fields.Int(required=True)
    lost_reason = _str(255)
    competitor = _str(255)
    probability = fields.Int(validate=validate.Range(min=0, max=100))
    version = fields.Int(load_only=True, metadata=VERSION)


class StaySchema(Schema):
    stage_id = fields.Int()
    stage = fields.Str()
    entered_at = fields.AwareDateTime()
    left_at = fields.AwareDateTime(allow_none=True)
    seconds = fields.Int()
    current = fields.Bool()


class StageTotalSchema(Schema):
    stage_id = fields.Int()
    stage = fields.Str()
    seconds = fields.Int()


class StageHistorySchema(Schema):
    opportunity_id = fields.Int()
    stays = fields.List(fields.Nested(StaySchema))
    per_stage = fields.List(fields.Nested(StageTotalSchema))


class BoardColumnSchema(Schema):
    stage = fields.Nested(StageSchema)
    count = fields.Int()
    totals = fields.Dict(keys=fields.Str(), values=fields.Decimal(as_string=True))
    opportunities = fields.List(fields.Nested(OpportunitySchema(only=(
        "id", "name", "customer_id", "owner_id", "amount", "currency", "probability", "expected_close_date"))))


class BoardArgs(Schema):
    owner_id = fields.Int()


class SuggestionSchema(Schema):
    product_id = fields.Int()
    code = fields.Str()
    name = fields.Str()
    score = fields.Float()
    reasons = fields.List(fields.Str())
    source = fields.Str()
    list_price = Money()
    currency = fields.Str()


# --- catalogue -------------------------------------------------------------------------------------

class ProductSchema(Schema):
    id = fields.Int(dump_only=True)
    code = _str(64, required=True)
    name = _str(255, required=True)
    category = _str(120, allow_none=True)
    unit = _str(16)
    list_price = Money(required=True)
    currency = Currency()
    cost = Money(allow_none=True)
    active = fields.Bool()
    source = fields.Str(validate=validate.OneOf(SOURCES))
    description = fields.Str(allow_none=True)
    version = fields.Int(dump_only=True)


class ProductUpdateSchema(ProductSchema):
    version = fields.Int(load_only=True, metadata=VERSION)


class ProductListArgs(PageArgs):
    q = Search()
    category = fields.Str()
    active = fields.Bool(load_default=True)


class PriceListItemSchema(Schema):
    product_id = fields.Int(required=True)
    price = Money(required=True)


class PriceListSchema(Schema):
    id = fields.Int(dump_only=True)
    name = _str(120, required=True)
    currency = Currency()
    valid_from = fields.Date(allow_none=True)
    valid_to = fields.Date(allow_none=True)
    active = fields.Bool()
    source = fields.Str(validate=validate.OneOf(SOURCES))
    items = fields.List(fields.Nested(PriceListItemSchema))


# --- quotes and orders -----------------------------------------------------------------------------

class QuoteLineSchema(Schema):
    id = fields.Int(dump_only=True)
    product_id = fields.Int(allow_none=True)
    description = _str(255)
    quantity = fields.Decimal(as_string=True, load_default=1, validate=validate.Range(min=0, min_inclusive=False))
    unit_price = Money(metadata={"description": "Defaults to the list price"})
    list_price = Money(dump_only=True)
    discount_percent = Pct()
    line_total = Money(dump_only=True)


class QuoteSchema(Schema):
    id = fields.Int(dump_only=True)
    number = fields.Str(dump_only=True)
    customer_id = fields.Int(required=True)
    opportunity_id = fields.Int(allow_none=True)
    owner_id = fields.Int()
    price_list_id = fields.Int(allow_none=True)
    currency = Currency()
    status = fields.Str(dump_only=True, metadata={"description": str(QUOTE_STATUSES)})
    valid_until = fields.Date(allow_none=True)
    discount_percent = Pct(metadata={"description": "Overall discount on the sum of the lines"})
    notes = fields.Str(allow_none=True)
    lines = fields.List(fields.Nested(QuoteLineSchema))
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
    description = _str(255)
    quantity = fields.Decimal(as_string=True, load_default=1)
    unit_price = Money(required=True)
    list_price = Money(allow_none=True)
    discount_percent = Pct()
    line_total = Money()


class OrderSchema(Schema):
    id = fields.Int(dump_only=True)
    number = _str(64, required=True)
    customer_id = fields.Int(required=True)
    owner_id = fields.Int(allow_none=True)
    quote_id = fields.Int(dump_only=True)
    opportunity_id = fields.Int(allow_none=True)
    order_date = fields.Date(required=True)
    currency = Currency()
    status = fields.Str(validate=validate.OneOf(ORDER_STATUSES))
    total = Money()
    list_total = Money(allow_none=True)
    source = fields.Str(validate=validate.OneOf(SOURCES))
    lines = fields.List(fields.Nested(OrderLineSchema))
    version = fields.Int(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class OrderListArgs(PageArgs):
    customer_id = fields.Int()
    status = fields.Str(validate=validate.OneOf(ORDER_STATUSES))


class InvoiceSchema(Schema):
    id = fields.Int(dump_only=True)
    number = _str(64, required=True)
    customer_id = fields.Int(required=True)
    order_id = fields.Int(allow_none=True)
    owner_id = fields.Int(allow_none=True)
    invoice_date = fields.Date(required=True)
    due_date = fields.Date(required=True)
    currency = Currency()
    amount_total = Money(required=True)
    amount_paid = Money(dump_only=True)
    amount_due = Money(dump_only=True)
    state = fields.Str(validate=validate.OneOf(INVOICE_STATES))
    source = fields.Str(validate=validate.OneOf(SOURCES))
    version = fields.Int(dump_only=True)


class InvoiceListArgs(PageArgs):
    customer_id = fields.Int()
    state = fields.Str(validate=validate.OneOf(INVOICE_STATES))
    overdue = fields.Bool(load_default=False)


class PaymentSchema(Schema):
    id = fields.Int(dump_only=True)
    invoice_id = fields.Int(dump_only=True)
    paid_on = fields.Date(required=True)
    amount = Money(required=True)
    currency = Currency()
    reference = _str(120, allow_none=True, metadata={"description": "Idempotency: a known reference is not paid twice"})
    source = fields.Str(validate=validate.OneOf(SOURCES))


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


# --- activities, expenses, plans ------------------------------------------------------------------

class ActivitySchema(Schema):
    id = fields.Int(dump_only=True)
    kind = fields.Str(required=True, validate=validate.OneOf(ACTIVITY_KINDS))
    subject = _str(255, required=True)
    notes = fields.Str(allow_none=True)
    customer_id = fields.Int(required=True)
    opportunity_id = fields.Int(allow_none=True)
    contact_id = fields.Int(allow_none=True)
    owner_id = fields.Int()
    due_at = fields.AwareDateTime(allow_none=True)
    status = fields.Str(validate=validate.OneOf(ACTIVITY_STATUSES), metadata={"description": "planned or done when created"})
    done_at = fields.AwareDateTime(allow_none=True)  # null while planned
    outcome = fields.Str(validate=validate.OneOf(VISIT_OUTCOMES), allow_none=True)
    outcome_note = fields.Str(allow_none=True)
    interaction_id = fields.Int(dump_only=True)
    version = fields.Int(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class ActivityUpdateSchema(Schema):
    subject = _str(255)
    notes = fields.Str(allow_none=True)
    opportunity_id = fields.Int(allow_none=True)
    contact_id = fields.Int(allow_none=True)
    owner_id = fields.Int()
    due_at = fields.AwareDateTime(allow_none=True)
    version = fields.Int(load_only=True, metadata=VERSION)


class ActivityListArgs(PageArgs):
    customer_id = fields.Int()
    opportunity_id = fields.Int()
    kind = fields.Str(validate=validate.OneOf(ACTIVITY_KINDS))
    status = fields.Str(validate=validate.OneOf(ACTIVITY_STATUSES))
    owner_id = fields.Int()


class CompleteSchema(Schema):
    outcome = fields.Str(validate=validate.OneOf(VISIT_OUTCOMES), metadata={"description": "Required for a visit"})
    outcome_note = fields.Str()
    done_at = fields.AwareDateTime(allow_none=True)  # null while planned


class ExpenseSchema(Schema):
    id = fields.Int(dump_only=True)
    owner_id = fields.Int()
    customer_id = fields.Int(allow_none=True)
    opportunity_id = fields.Int(allow_none=True)
    activity_id = fields.Int(allow_none=True)
    spent_on = fields.Date()
    category = _str(32)
    amount = Money(required=True)
    currency = Currency()
    description = _str(255, allow_none=True)


class TargetSchema(Schema):
    id = fields.Int(dump_only=True)
    year = fields.Int(required=True)
    month = fields.Int(required=True, validate=validate.Range(min=1, max=12))
    user_id = fields.Int(allow_none=True)
    team_id = fields.Int(allow_none=True)
    amount = Money(required=True)
    currency = Currency()


class TargetListArgs(Schema):
    year = fields.Int()
    user_id = fields.Int()
    team_id = fields.Int()


class RateSchema(Schema):
    currency = Currency(required=True)
    rate = fields.Decimal(as_string=True, required=True, metadata={"description": "Units of the base currency per unit"})


# --- KPIs and metrics -----------------------------------------------------------------------------

class KpiArgs(Schema):
    period = fields.Str(metadata={"description": "2026-03, 2026-Q1, 2026 or 2026-01-01..2026-01-31; default: this month"})
    rep_id = fields.Int()
    team_id = fields.Int()
    currency = Currency(metadata={"description": "Report currency; default: the base currency"})
    kpi = fields.List(fields.Str(), metadata={"description": "Only these KPIs"})


class KpiValueSchema(Schema):
    key = fields.Str()
    label = fields.Str()
    unit = fields.Str()
    value = fields.Raw(allow_none=True)
    numerator = fields.Raw(allow_none=True)
    denominator = fields.Raw(allow_none=True)
    note = fields.Str(allow_none=True)
    excluded_currencies = fields.List(fields.Str())
    detail = fields.List(fields.Dict())


class KpiReportSchema(Schema):
    subject = fields.Str()
    subject_label = fields.Str()
    period = fields.Str()
    previous_period = fields.Str()
    start = fields.Date()
    end = fields.Date(metadata={"description": "Exclusive"})
    currency = fields.Str()
    kpis = fields.Dict(keys=fields.Str(), values=fields.Nested(KpiValueSchema))


class MetricShareSchema(Schema):
    role = fields.Str()
    role_id = fields.Int(allow_none=True)  # a share names a role or a user
    user_id = fields.Int(allow_none=True)


class MetricSchema(Schema):
    id = fields.Int(dump_only=True)
    name = _str(64, required=True)
    label = _str(120, required=True)
    description = fields.Str(allow_none=True)
    entity = fields.Str(required=True)
    conditions = fields.Dict(allow_none=True, metadata={
        "description": '{"field","op","value"} | {"all": [...]} | {"any": [...]} | {"not": {...}}'})
    aggregate = fields.Str(required=True, validate=validate.OneOf(("count", "sum", "avg")))
    field = fields.Str(allow_none=True, metadata={"description": "The number field to sum or average"})
    shares = fields.Method("_dump_shares", deserialize="_load_shares")

    def _dump_shares(self, obj: object) -> list[dict[str, int | None]]:
        return [{"role_id": s.role_id, "user_id": s.user_id} for s in getattr(obj, "shares", [])]

    def _load_shares(self, value: object) -> object:
        return value


class MetricValueArgs(Schema):
    period = fields.Str()
    rep_id = fields.Int()
    team_id = fields.Int()
    currency = Currency()


LeadPage = page_of(LeadSchema, "LeadPage")
OpportunityPage = page_of(OpportunitySchema, "OpportunityPage")
ProductPage = page_of(ProductSchema, "ProductPage")
QuotePage = page_of(QuoteSchema(exclude=("lines",)), "QuotePage")
OrderPage = page_of(OrderSchema(exclude=("lines",)), "OrderPage")
InvoicePage = page_of(InvoiceSchema, "InvoicePage")
ActivityPage = page_of(ActivitySchema, "ActivityPage")
ExpensePage = page_of(ExpenseSchema, "ExpensePage")
