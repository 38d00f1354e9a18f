"""Schemas of leads: the lead itself, its list, bulk import and qualification."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmcore.schemas.common import PageArgs, Search, page_of

from crmcore.i18n import _
from crmcore.schemas.columns import BLANK, Amount, MaxLength, email, length_of, text
from crmcore.schemas.columns import Currency as CurrencyCode

from ..models import LEAD_CHANNELS, LEAD_STATUSES, Lead
from .common import Currency, Money, VERSION, _str

MESSAGE_MAX = 5000  # characters of a lead's message (from the web form)


class LeadSchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(Lead.name, required=True, metadata={"description": "The person or the company"}, error_messages={
        "required": _("A lead needs a name (the person or the company).")})
    company = text(Lead.company)
    contact_name = text(Lead.contact_name)
    title = text(Lead.title)
    phone = text(Lead.phone)
    email = email(Lead.email)
    wechat = text(Lead.wechat)
    source_channel = text(Lead.source_channel, choices=LEAD_CHANNELS)
    campaign = text(Lead.campaign)
    message = fields.Str(allow_none=True, validate=MaxLength(MESSAGE_MAX))
    estimated_amount = Amount(allow_none=True)
    currency = CurrencyCode(error_messages={"null": BLANK}, metadata={"maxLength": length_of(Lead.currency)})
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
    referral_code = fields.Str(load_only=True, allow_none=True, validate=validate.Length(max=64), metadata={
        "description": "The referral code that brought the lead (a referral plugin records who referred whom)"})


class LeadUpdateSchema(LeadSchema):
    class Meta:
        exclude = ("referral_code",)  # only a new lead is referred

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


LeadPage = page_of(LeadSchema, "LeadPage")
