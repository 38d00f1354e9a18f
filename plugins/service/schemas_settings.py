"""The service plugin's settings schemas (ticket states and moves, categories, calendars, SLA policies): apart
from the ticket schemas, so the services that load them never import what imports the services."""
from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, ValidationError, fields

from crmcore.i18n import _
from crmcore.schemas.columns import MaxLength, Text, text
from crmcore.schemas.common import TimeZone

from .models import KINDS, Calendar, CalendarDay, Category, SlaPolicy, TicketState, TicketTransition


def state_key(value: Any) -> Any:
    """A validator: a state key of letters, digits and underscores."""
    if value and not value.replace("_", "").isalnum():
        raise ValidationError([_("Letters, digits and underscores, at most 32.")])
    return value


class TicketStateSchema(Schema):
    id = fields.Int(dump_only=True)
    key = text(TicketState.key, required=True, validators=[state_key])
    name = text(TicketState.name, required=True)
    phase = text(TicketState.phase)
    position = fields.Int()


class TicketTransitionSchema(Schema):
    id = fields.Int(dump_only=True)
    from_state = text(TicketTransition.from_state, required=True)
    to_state = text(TicketTransition.to_state, required=True)
    roles = fields.List(Text(validate=MaxLength(64)))


class TicketCategorySchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(Category.name, required=True)
    kind = text(Category.kind, choices=KINDS)
    active = fields.Bool()


def business_hours(value: Any) -> Any:
    """A validator: spans ``[["09:00", "12:00"], ["13:00", "18:00"]]``, each end after its start, none overlapping."""
    from .services.businesshours import parse_hours

    try:
        parse_hours(value)
    except (ValueError, TypeError):
        raise ValidationError([_("Give hours as pairs such as [\"09:00\", \"12:00\"], each ending after it "
                                 "starts, none overlapping.")]) from None
    return value



def weekly_hours(value: Any) -> Any:
    """A validator: ``{"1": [["09:00", "18:00"]], ...}``: ISO weekdays 1 to 7, each with valid hours."""
    if any(key not in {str(i) for i in range(1, 8)} for key in value):
        raise ValidationError([_("Name the weekdays 1 (Monday) to 7 (Sunday).")])
    for spans in value.values():
        business_hours(spans)
    return value


class Day(fields.Date):
    """A date: ISO text, or a ``date`` a service caller passes as it is."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        return super()._deserialize(value, attr, data, **kwargs)


class BusinessCalendarDaySchema(Schema):
    day = Day(required=True)
    kind = text(CalendarDay.kind, load_default="holiday")
    hours = fields.List(fields.List(fields.Str()), allow_none=True, validate=business_hours)


class BusinessCalendarSchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(Calendar.name, required=True)
    timezone = TimeZone(load_default="Asia/Shanghai")
    weekly = fields.Dict(keys=fields.Str(), values=fields.List(fields.List(fields.Str())), validate=weekly_hours,
                         metadata={"description": 'ISO weekday -> [["09:00","12:00"],["13:00","18:00"]]'})
    days = fields.List(fields.Nested(BusinessCalendarDaySchema))


def positive_minutes(value: Any) -> Any:
    """A validator: a whole number of business minutes above zero."""
    if value is not None and value <= 0:
        raise ValidationError([_("A positive number of business minutes.")])
    return value


def some_days(value: Any) -> Any:
    """A validator: a follow-up rule's days after its trigger, at least one, none negative."""
    if not value or any(d < 0 for d in value):
        raise ValidationError([_("Give days after the trigger, e.g. [3, 30, 90].")])
    return value


def some_members(value: Any) -> Any:
    """A validator: an assignment rule names at least one user."""
    if not value:
        raise ValidationError([_("Give the ids of existing users.")])
    return value


class SlaPolicySchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(SlaPolicy.name, required=True)
    priority = text(SlaPolicy.priority, required=True)
    customer_level = text(SlaPolicy.customer_level, blank_none=True)
    first_response_minutes = fields.Int(required=True, validate=positive_minutes)
    resolution_minutes = fields.Int(required=True, validate=positive_minutes)
    calendar_id = fields.Int(allow_none=True)
    active = fields.Bool()
