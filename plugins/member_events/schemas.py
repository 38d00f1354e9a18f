"""Schemas of member events and their invitations: the one declaration of their fields' rules."""
from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, fields, validate, validates_schema
from marshmallow import ValidationError as FieldError

from crmcore.i18n import _
from crmcore.schemas.columns import text
from crmcore.schemas.common import PageArgs, page_of
from crmcore.timezones import is_zone

from .models import ANSWERS, RESPONSES, Invitation, MemberEvent


class LocalDateTime(fields.DateTime):
    """A date and time: with an offset it is that instant; without one, a wall-clock time in the event's zone."""


def _zone(value: Any) -> Any:
    if value is not None and not is_zone(value):
        raise FieldError([_("Give an IANA time zone such as Asia/Shanghai.")])
    return value


class EventSchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(MemberEvent.name, required=True)
    description = text(MemberEvent.description, blank_none=True)
    starts_at = LocalDateTime(required=True, metadata={
        "description": "With an offset, that instant; without one, the time on the clocks of `timezone`"})
    ends_at = LocalDateTime(allow_none=True)
    timezone = text(MemberEvent.timezone, validators=[_zone], load_default="Asia/Shanghai")
    place = text(MemberEvent.place, required=True)
    capacity = fields.Int(allow_none=True, validate=validate.Range(min=1, max=1_000_000,
                                                                   error=_("Give a whole number from 1 to 1,000,000.")))
    audience_id = fields.Int(allow_none=True)
    cancelled = fields.Bool(load_default=False)
    version = fields.Int(load_only=True)
    answers = fields.Dict(keys=fields.Str(), values=fields.Int(), dump_only=True,
                          metadata={"description": "Invitations per answer (pending, yes, no, maybe)"})
    checked_in = fields.Int(dump_only=True)

    @validates_schema
    def _order(self, data: dict[str, Any], **_kwargs: Any) -> None:
        start, end = data.get("starts_at"), data.get("ends_at")
        if isinstance(start, dt.datetime) and isinstance(end, dt.datetime) and \
                (start.tzinfo is None) == (end.tzinfo is None) and end < start:
            raise FieldError({"ends_at": [_("The end comes before the start.")]})


class InviteSchema(Schema):
    audience_id = fields.Int(allow_none=True, metadata={"description": "Invite every member of this audience"})
    customer_ids = fields.List(fields.Int(), validate=validate.Length(max=10_000), load_default=list)


class InvitationSchema(Schema):
    id = fields.Int(dump_only=True)
    event_id = fields.Int(dump_only=True)
    customer_id = fields.Int(dump_only=True)
    customer_name = fields.Function(lambda inv: inv.customer.name if inv.customer else None, dump_only=True)
    response = text(Invitation.response, choices=RESPONSES, dump_only=True)
    responded_at = fields.AwareDateTime(dump_only=True)
    checked_in_at = fields.AwareDateTime(dump_only=True)
    rsvp_url = fields.Str(dump_only=True, metadata={"description": "The invitee's own signed answer page"})


class AnswerSchema(Schema):
    response = fields.Str(required=True, validate=validate.OneOf(ANSWERS, error=_("Must be one of: {choices}.")))


class CheckInSchema(Schema):
    token = fields.Str(required=True, validate=validate.Length(min=1, max=2000),
                       metadata={"description": "The token of the guest's QR code, or the address it holds"})


class EventListArgs(PageArgs):
    upcoming = fields.Bool(metadata={"description": "Only events that have not started"})


class InvitationListArgs(PageArgs):
    response = fields.Str(validate=validate.OneOf(RESPONSES))


EventPage = page_of(EventSchema, "MemberEventPage")
InvitationPage = page_of(InvitationSchema, "MemberEventInvitationPage")
