"""Schemas of activities, expenses, sales targets and exchange rates."""
from __future__ import annotations

from decimal import ROUND_HALF_UP

from marshmallow import Schema, fields, validate

from crmcore.schemas.common import PageArgs, page_of

from crmcore.i18n import _
from crmcore.schemas.columns import BLANK, Amount, length_of, text
from crmcore.schemas.columns import Currency as CurrencyCode

from ..models import ACTIVITY_KINDS, ACTIVITY_STATUSES, VISIT_OUTCOMES, Activity, Expense, SalesTarget
from .common import VERSION, more_than_zero


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
    """An expense: the one declaration of its fields' rules (lengths and choices from the model)."""

    id = fields.Int(dump_only=True)
    owner_id = fields.Int(allow_none=True, metadata={"description": "Default: you"})
    customer_id = fields.Int(allow_none=True)
    opportunity_id = fields.Int(allow_none=True)
    activity_id = fields.Int(allow_none=True)
    spent_on = fields.Date(allow_none=True, metadata={"description": "Default: today"})
    category = text(Expense.category, empty=True, blank_none=True, metadata={"description": "Default: other"})
    amount = Amount(required=True, error_messages={"null": BLANK})
    currency = CurrencyCode(error_messages={"null": BLANK}, metadata={"maxLength": length_of(Expense.currency)})
    description = text(Expense.description)


YEAR = _("A year such as 2026.")
MONTH = _("A month from 1 to 12.")


class TargetSchema(Schema):
    """A month's sales plan: the one declaration of its fields' rules."""

    id = fields.Int(dump_only=True)
    year = fields.Int(required=True, validate=validate.Range(min=2000, max=2100, error=YEAR),
                      error_messages={"required": YEAR, "null": YEAR, "invalid": YEAR})
    month = fields.Int(required=True, validate=validate.Range(min=1, max=12, error=MONTH),
                       error_messages={"required": MONTH, "null": MONTH, "invalid": MONTH})
    user_id = fields.Int(allow_none=True)
    team_id = fields.Int(allow_none=True)
    amount = Amount(required=True, error_messages={"null": BLANK})
    currency = CurrencyCode(allow_none=True, metadata={"description": "Default: the base currency",
                                                       "maxLength": length_of(SalesTarget.currency)})


class TargetListArgs(Schema):
    year = fields.Int()
    user_id = fields.Int()
    team_id = fields.Int()


class RateSchema(Schema):
    """An exchange rate: the one declaration of its fields' rules."""

    currency = CurrencyCode(required=True, error_messages={"null": BLANK}, metadata={"maxLength": 3})
    rate = fields.Decimal(as_string=True, required=True, places=8, rounding=ROUND_HALF_UP, validate=more_than_zero,
                          metadata={"description": "Units of the base currency per unit"})


ActivityPage = page_of(ActivitySchema, "ActivityPage")
ExpensePage = page_of(ExpenseSchema, "ExpensePage")
