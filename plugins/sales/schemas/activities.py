"""Schemas of activities, expenses, sales targets and exchange rates."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmcore.schemas.common import PageArgs, page_of

from crmcore.i18n import _
from crmcore.schemas.columns import text

from ..models import ACTIVITY_KINDS, ACTIVITY_STATUSES, VISIT_OUTCOMES, Activity
from .common import Currency, Money, VERSION, _str


class ActivitySchema(Schema):
    id = fields.Int(dump_only=True)
    kind = text(Activity.kind, required=True, choices=ACTIVITY_KINDS)
    subject = text(Activity.subject, required=True, error_messages={"required": _("A subject is required.")})
    notes = fields.Str(allow_none=True)
    customer_id = fields.Int(required=True, error_messages={"required": _("Say which customer this is with."),
                                                            "null": _("Say which customer this is with.")})
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
    subject = text(Activity.subject)
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


ActivityPage = page_of(ActivitySchema, "ActivityPage")
ExpensePage = page_of(ExpenseSchema, "ExpensePage")
