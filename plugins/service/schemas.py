"""Marshmallow schemas of the service API: what each endpoint reads and returns (OpenAPI from these)."""
from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from crmcore.i18n import _
from crmcore.schemas.columns import MaxLength, Text, email, not_blank, text
from crmcore.schemas.common import PageArgs, Search, TimeZone, page_of

from .schemas_settings import (BusinessCalendarDaySchema, BusinessCalendarSchema, Day, SlaPolicySchema,  # noqa: F401
                               TicketCategorySchema, TicketStateSchema, TicketTransitionSchema, business_hours,
                               positive_minutes, some_days, some_members, state_key, weekly_hours)
from .models import KINDS, PRIORITIES, AssignmentRule, Delivery, FollowUpRule, QualityRecord, Ticket, Visit

MAX_DESCRIPTION = 100_000  # characters of a ticket's description or message

_str = lambda n, **kw: fields.Str(validate=validate.Length(max=n), **kw)  # noqa: E731
Time = fields.AwareDateTime


class SlaTimerSchema(Schema):
    target = fields.Str(allow_none=True, metadata={"description": "first_response, resolution or null"})
    due_at = Time(allow_none=True)
    minutes_left = fields.Int(allow_none=True, metadata={"description": "Business minutes; negative when late"})
    paused = fields.Bool()
    breached = fields.Bool()


class TicketSchema(Schema):
    id = fields.Int(dump_only=True)
    number = fields.Str(dump_only=True)
    subject = text(Ticket.subject, required=True, error_messages={"required": _("A subject is required.")})
    description = fields.Str(allow_none=True, validate=MaxLength(MAX_DESCRIPTION))
    kind = text(Ticket.kind)
    priority = text(Ticket.priority)
    channel = text(Ticket.channel)  # where the request came from; "api" when not given
    state = fields.Str(dump_only=True)
    category_id = fields.Int(allow_none=True)
    customer_id = fields.Int(allow_none=True)
    contact_id = fields.Int(allow_none=True)
    requester_name = text(Ticket.requester_name)
    requester_email = email(Ticket.requester_email)
    requester_phone = text(Ticket.requester_phone, blank_none=True)
    requester_wechat = text(Ticket.requester_wechat, blank_none=True)
    assignee_id = fields.Int(allow_none=True)
    order_number = text(Ticket.order_number, blank_none=True)
    product_code = text(Ticket.product_code, blank_none=True)
    sla_policy_id = fields.Int(dump_only=True)
    first_response_due_at = Time(dump_only=True)
    resolution_due_at = Time(dump_only=True)
    first_responded_at = Time(dump_only=True)
    resolved_at = Time(dump_only=True)
    closed_at = Time(dump_only=True)
    first_response_breached_at = Time(dump_only=True)
    resolution_breached_at = Time(dump_only=True)
    escalation_level = fields.Int(dump_only=True)
    sla = fields.Method("_sla", dump_only=True)
    version = fields.Int(dump_only=True)
    created_at = Time(dump_only=True)
    updated_at = Time(dump_only=True)

    def _sla(self, obj: object) -> dict[str, object]:
        from .services.sla import timer

        return SlaTimerSchema().dump(timer(obj))  # type: ignore[arg-type]


class TicketUpdateSchema(TicketSchema):
    subject = text(Ticket.subject)
    channel = fields.Str(dump_only=True)  # fixed when the ticket is opened
    version = fields.Int(load_only=True, metadata={"description": "Version you read; a stale one gives 409"})


class TicketListArgs(PageArgs):
    state = fields.Str()
    assignee_id = fields.Int()
    customer_id = fields.Int()
    priority = fields.Str(validate=validate.OneOf(PRIORITIES))
    kind = fields.Str(validate=validate.OneOf(KINDS))
    open = fields.Bool(data_key="open")
    breached = fields.Bool()
    q = Search()


TicketPage = page_of(TicketSchema, "TicketPage")


class TicketMoveSchema(Schema):
    state = fields.Str(required=True)
    note = fields.Str(validate=validate.Length(max=10_000))
    version = fields.Int()


class TicketMovesSchema(Schema):
    state = fields.Str()
    allowed = fields.List(fields.Str())


class TicketMessageSchema(Schema):
    id = fields.Int(dump_only=True)
    author = fields.Str(dump_only=True)
    user_id = fields.Int(dump_only=True)
    from_name = fields.Str(dump_only=True)
    from_email = fields.Str(dump_only=True)
    channel = fields.Str()
    body = fields.Str(required=True, validate=validate.Length(min=1, max=100_000))
    internal = fields.Bool(load_default=False)
    message_id = fields.Str(dump_only=True)
    attachments = fields.List(fields.Dict(), dump_only=True)
    created_at = Time(dump_only=True)


class StatusLinkSchema(Schema):
    url = fields.Str()
    token = fields.Str()


class AssignmentRuleSchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(AssignmentRule.name, required=True)
    category_id = fields.Int(allow_none=True)
    strategy = text(AssignmentRule.strategy)
    member_ids = fields.List(fields.Int(), required=True, validate=some_members)
    position = fields.Int()
    active = fields.Bool()


class FollowUpRuleSchema(Schema):
    id = fields.Int(dump_only=True)
    name = text(FollowUpRule.name, required=True)
    trigger = text(FollowUpRule.trigger, load_default="ticket")
    offsets_days = fields.List(fields.Float(), required=True, validate=some_days)
    channel = text(FollowUpRule.channel)
    active = fields.Bool()


class FollowUpSchema(Schema):
    id = fields.Int(dump_only=True)
    rule_id = fields.Int(allow_none=True)  # null for a follow-up planned by hand
    step = fields.Int()
    customer_id = fields.Int()
    ticket_id = fields.Int(allow_none=True)
    order_number = fields.Str(allow_none=True)
    due_at = Time()
    assignee_id = fields.Int(allow_none=True)
    state = fields.Str()
    outcome = fields.Str(allow_none=True)
    done_at = Time(allow_none=True)


class FollowUpArgs(Schema):
    before = Time()
    assignee_id = fields.Int()


class FollowUpOutcomeSchema(Schema):
    outcome = Text(required=True, validate=validate.OneOf(("done", "unreachable", "cancelled"),
                                                           error=_("Must be one of: {choices}.")))
    notes = Text(blank_none=True, allow_none=True, validate=MaxLength(10_000))


class When(fields.AwareDateTime):
    """A time with its zone: ISO 8601 text, or an aware ``datetime`` a service caller passes as it is."""

    default_error_messages = {"invalid_awareness": _("Give a time with a time zone.")}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise ValidationError([_("Give a time with a time zone.")])
            return value
        return super()._deserialize(value, attr, data, **kwargs)


def positive(value: Any) -> Any:
    """A validator: a quantity above zero."""
    if value is not None and value <= 0:
        raise ValidationError([_("A positive quantity.")])
    return value


class VisitPartSchema(Schema):
    part = Text(required=True, validate=[not_blank, MaxLength(120)])
    quantity = fields.Decimal(as_string=True, load_default=decimal.Decimal(1), validate=positive)
    note = Text(blank_none=True, allow_none=True, validate=MaxLength(255))


class FieldVisitSchema(Schema):
    id = fields.Int(dump_only=True)
    ticket_id = fields.Int(dump_only=True)
    technician_id = fields.Int(required=True, error_messages={"null": _("No such active user.")})
    window_start = When(required=True)
    window_end = When(required=True)
    address = text(Visit.address, required=True, error_messages={"required": _("An address is required.")})
    state = fields.Str(dump_only=True)
    outcome = fields.Str(dump_only=True)
    parts_used = fields.List(fields.Dict(), dump_only=True)
    completed_at = Time(dump_only=True)


class FieldVisitReportSchema(Schema):
    state = Text(validate=validate.OneOf(("done", "failed"), error=_("Must be one of: {choices}.")),
                 load_default="done")
    outcome = Text(required=True, validate=[not_blank, MaxLength(10_000)],
                   error_messages={"required": _("Say what was done."), "null": _("Say what was done.")})
    parts_used = fields.List(fields.Nested(VisitPartSchema), load_default=list)


class VisitDayArgs(Schema):
    technician_id = fields.Int(required=True)
    day = fields.Date(required=True)
    timezone = TimeZone(load_default="Asia/Shanghai")


MAX_QUALITY_TEXT = 20_000  # characters of a quality record's description, root cause or action


def long_text(**kwargs: Any) -> Text:
    """Free text of a quality record (a ``Text`` column): at most ``MAX_QUALITY_TEXT`` characters, empty is none."""
    return Text(blank_none=True, allow_none=True, validate=MaxLength(MAX_QUALITY_TEXT), **kwargs)


class QualityRecordSchema(Schema):
    id = fields.Int(dump_only=True)
    kind = text(QualityRecord.kind)
    product_code = text(QualityRecord.product_code, required=True,
                        error_messages={"required": _("Say which product.")})
    product_name = text(QualityRecord.product_name, blank_none=True)
    order_number = text(QualityRecord.order_number, blank_none=True)
    ticket_id = fields.Int(allow_none=True)
    customer_id = fields.Int(allow_none=True)
    quantity = fields.Decimal(as_string=True, validate=positive)
    severity = text(QualityRecord.severity)
    description = Text(required=True, validate=[not_blank, MaxLength(MAX_QUALITY_TEXT)],
                       error_messages={"required": _("Describe the problem or the feedback."),
                                       "null": _("Describe the problem or the feedback.")})
    root_cause = long_text()
    corrective_action = long_text()
    state = text(QualityRecord.state)
    reported_at = When()
    closed_at = Time(dump_only=True)


class QualityRecordPatchSchema(QualityRecordSchema):
    product_code = text(QualityRecord.product_code)
    description = Text(validate=[not_blank, MaxLength(MAX_QUALITY_TEXT)],
                       error_messages={"null": _("Describe the problem or the feedback.")})


class ServicePeriodArgs(Schema):
    start = Time(required=True)
    end = Time(required=True)


class SatisfactionArgs(ServicePeriodArgs):
    by = fields.Str(validate=validate.OneOf(("agent", "customer", "all")), load_default="agent")
    kind = fields.Str(validate=validate.OneOf(("csat", "nps")), load_default="csat")


class DefectRateSchema(Schema):
    product_code = fields.Str()
    product_name = fields.Str(allow_none=True)
    defects = fields.Int()
    defective_units = fields.Decimal(as_string=True)
    delivered_units = fields.Decimal(as_string=True)
    defect_rate = fields.Decimal(as_string=True, allow_none=True)


class OrderDeliverySchema(Schema):
    id = fields.Int(dump_only=True)
    order_number = text(Delivery.order_number, required=True,
                        error_messages={"required": _("An order number is required.")})
    customer_id = fields.Int(allow_none=True)
    carrier = text(Delivery.carrier, blank_none=True)
    rush = fields.Bool()
    promised_dispatch_at = When(allow_none=True)
    dispatched_at = When(allow_none=True)
    promised_arrival_at = When(allow_none=True)
    arrived_at = When(allow_none=True)
    damaged = fields.Bool()
    completed = fields.Bool()
    lines = fields.List(fields.Dict())


class NpsRequestSchema(Schema):
    customer_id = fields.Int(required=True)


MAX_COMMENT = 4_000  # characters of a survey answer's comment


class SurveyAnswerSchema(Schema):
    score = fields.Int(required=True)
    comment = Text(blank_none=True, allow_none=True, validate=MaxLength(MAX_COMMENT))


class SurveyLinkSchema(Schema):
    id = fields.Int(dump_only=True)
    kind = fields.Str()
    customer_id = fields.Int(allow_none=True)
    ticket_id = fields.Int(allow_none=True)
    url = fields.Str()
    expires_at = Time()


class SlaCheckSchema(Schema):
    breaches = fields.List(fields.Dict())
