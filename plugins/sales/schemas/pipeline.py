"""Schemas of stages and opportunities: the pipeline, its board, moves and stage history."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmcore.schemas.common import PageArgs, Search, page_of

from crmcore.i18n import _
from crmcore.schemas.columns import BLANK, Amount, length_of, text
from crmcore.schemas.columns import Currency as CurrencyCode

from ..models import OPPORTUNITY_STATUSES, Opportunity, Stage
from .common import Money, VERSION, _str


class StageSchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(Stage.name, required=True, error_messages={"required": _("A stage needs a name.")})
    sequence = fields.Int(load_default=10)
    probability = fields.Int(validate=validate.Range(min=0, max=100, error=_("A whole number from 0 to 100.")),
                             metadata={"description": "Default: 100 won, 0 lost, 10 open"})
    is_won = fields.Bool(load_default=False)
    is_lost = fields.Bool(load_default=False)
    active = fields.Bool(load_default=True)


class OpportunitySchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(Opportunity.name, required=True, error_messages={"required": _("An opportunity needs a name.")})
    customer_id = fields.Int(required=True, error_messages={
        "required": _("Say which customer this opportunity is for."), "null": _("Say which customer this opportunity is for.")})
    contact_id = fields.Int(allow_none=True)
    owner_id = fields.Int(allow_none=True)
    amount = Amount(allow_none=True, metadata={"description": "Empty: 0"})
    currency = CurrencyCode(error_messages={"null": BLANK}, metadata={"maxLength": length_of(Opportunity.currency)})
    expected_close_date = fields.Date(allow_none=True)
    probability = fields.Int(allow_none=True, validate=validate.Range(min=0, max=100, error=_("A whole number from 0 to 100.")),
                             metadata={"description": "Defaults to the stage's probability"})
    stage_id = fields.Int()
    stage = fields.Pluck(StageSchema, "name", dump_only=True)
    status = fields.Str(dump_only=True, metadata={"description": str(OPPORTUNITY_STATUSES)})
    lost_reason = text(Opportunity.lost_reason)
    competitor = text(Opportunity.competitor)
    source_channel = text(Opportunity.source_channel)
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


OpportunityPage = page_of(OpportunitySchema, "OpportunityPage")
