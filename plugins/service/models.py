"""The service plugin's tables: tickets and their messages, states and moves as data, SLA policies
and business-hours calendars, assignment rules, field visits, follow-ups, quality records,
surveys and deliveries. Orders of the sales plugin are referenced by number, never by foreign key,
so the plugin works without sales."""
from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.db import Base, created_ts, intpk, str120, str255, updated_ts
from crmcore.i18n import _

PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_LABELS = {"low": _("Low"), "normal": _("Normal"), "high": _("High"), "urgent": _("Urgent")}  # shown words
KINDS = ("question", "incident", "request", "complaint")
CHANNELS = ("api", "email", "web", "phone", "wechat", "wecom", "sms", "qq", "weibo", "visit", "other")
STRATEGIES = ("round_robin", "least_loaded", "fixed")  # of an assignment rule
TRIGGERS = ("order", "ticket")  # what a follow-up rule follows
FOLLOWUP_CHANNELS = ("phone", "email", "wechat", "visit")  # how a follow-up reaches the customer
QUALITY_KINDS = ("defect", "feedback")
SEVERITIES = ("minor", "major", "critical")
QUALITY_STATES = ("open", "investigating", "closed")
PHASES = ("open", "paused", "done")  # of a ticket state: how SLA clocks treat it


class TicketState(Base):
    """A ticket state; ``phase`` says how SLA clocks treat it: open, paused or done."""

    __tablename__ = "service_ticket_states"

    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str120]
    phase: Mapped[str] = mapped_column(String(8), default="open", info={"choices": PHASES})
    position: Mapped[int] = mapped_column(default=0)

    def __str__(self) -> str:
        return self.name


class TicketTransition(Base):
    """An allowed move between two states; ``roles`` empty means any role with ticket write."""

    __tablename__ = "service_ticket_transitions"
    __table_args__ = (UniqueConstraint("from_state", "to_state", name="uq_service_ticket_transitions_move"),)

    id: Mapped[intpk]
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    roles: Mapped[list[str]] = mapped_column(default=list)

    def __str__(self) -> str:
        return f"{self.from_state} -> {self.to_state}"


class Category(Base):
    __tablename__ = "service_categories"

    id: Mapped[intpk]
    name: Mapped[str120] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="request")
    active: Mapped[bool] = mapped_column(default=True)

    def __str__(self) -> str:
        return self.name


class Calendar(Base):
    """Business hours: ``weekly`` maps ISO weekday 1..7 to ``[["09:00", "18:00"], ...]`` in ``timezone``."""

    __tablename__ = "service_calendars"

    id: Mapped[intpk]
    name: Mapped[str120] = mapped_column(unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    weekly: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created_ts]

    days: Mapped[list["CalendarDay"]] = relationship(back_populates="calendar", cascade="all, delete-orphan",
                                                     order_by="CalendarDay.day", lazy="selectin")

    def __str__(self) -> str:
        return self.name


class CalendarDay(Base):
    """An exception to the weekly hours: a ``holiday`` (closed) or a make-up ``workday`` (调休)."""

    __tablename__ = "service_calendar_days"
    __table_args__ = (UniqueConstraint("calendar_id", "day", name="uq_service_calendar_days_day"),)

    id: Mapped[intpk]
    calendar_id: Mapped[int] = mapped_column(ForeignKey("service_calendars.id", ondelete="CASCADE"), index=True)
    day: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8), default="holiday", info={"choices": ("holiday", "workday")})
    hours: Mapped[list[Any] | None] = mapped_column(default=None)
    name: Mapped[str | None] = mapped_column(String(120))

    calendar: Mapped[Calendar] = relationship(back_populates="days")


class SlaPolicy(Base):
    """Targets in business minutes for a priority, optionally only for one customer level."""

    __tablename__ = "service_sla_policies"

    id: Mapped[intpk]
    name: Mapped[str120]
    priority: Mapped[str] = mapped_column(String(16), info={"choices": PRIORITIES})
    customer_level: Mapped[str | None] = mapped_column(String(32))
    first_response_minutes: Mapped[int]
    resolution_minutes: Mapped[int]
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("service_calendars.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)

    calendar = relationship("Calendar", lazy="joined")

    def __str__(self) -> str:
        return self.name


class Ticket(Base):
    """A service request from any channel."""

    __tablename__ = "service_tickets"
    __table_args__ = (Index("ix_service_tickets_state_due", "state", "resolution_due_at"),
                      Index("ix_service_tickets_customer_created", "customer_id", "created_at"))

    id: Mapped[intpk]
    number: Mapped[str] = mapped_column(String(32), unique=True)
    subject: Mapped[str255]
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="request", info={"choices": KINDS})
    priority: Mapped[str] = mapped_column(String(16), default="normal", info={"choices": PRIORITIES})
    channel: Mapped[str] = mapped_column(String(16), default="api", info={"choices": CHANNELS})
    state: Mapped[str] = mapped_column(String(32), default="new", index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("service_categories.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    requester_name: Mapped[str | None] = mapped_column(String(255))
    requester_email: Mapped[str | None] = mapped_column(String(255), index=True)
    requester_phone: Mapped[str | None] = mapped_column(String(40))
    requester_wechat: Mapped[str | None] = mapped_column(String(120))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    order_number: Mapped[str | None] = mapped_column(String(64), index=True)
    product_code: Mapped[str | None] = mapped_column(String(64))
    sla_policy_id: Mapped[int | None] = mapped_column(ForeignKey("service_sla_policies.id", ondelete="SET NULL"))
    first_response_due_at: Mapped[dt.datetime | None]
    resolution_due_at: Mapped[dt.datetime | None]
    first_responded_at: Mapped[dt.datetime | None]
    paused_since: Mapped[dt.datetime | None]
    # the resolution clock: when it started (None: created_at; a reopening restarts it) and the
    # pauses since then as [[start, end], ...] in ISO form, so a new target keeps the paused time
    resolution_started_at: Mapped[dt.datetime | None]
    sla_pauses: Mapped[list[Any]] = mapped_column(default=list)
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    first_response_breached_at: Mapped[dt.datetime | None]
    resolution_breached_at: Mapped[dt.datetime | None]
    escalation_level: Mapped[int] = mapped_column(default=0)
    portal_nonce_hash: Mapped[str | None] = mapped_column(String(64))
    # set while a portal requester has not yet confirmed their e-mail address (the SHA-256 of the
    # pending confirmation link's nonce); None once confirmed, and for tickets from other channels
    email_verify_hash: Mapped[str | None] = mapped_column(String(64))
    customer_locale: Mapped[str | None] = mapped_column(String(8))  # the language of the portal form
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    category = relationship("Category", lazy="joined")
    customer = relationship("Customer", lazy="joined")
    assignee = relationship("User", foreign_keys=[assignee_id], lazy="joined")
    sla_policy = relationship("SlaPolicy", lazy="joined")
    messages: Mapped[list["TicketMessage"]] = relationship(back_populates="ticket", order_by="TicketMessage.id",
                                                           cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"


class TicketMessage(Base):
    """A message on a ticket: from the customer, an agent (public or internal note) or the system."""

    __tablename__ = "service_ticket_messages"

    id: Mapped[intpk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("service_tickets.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(16), default="customer")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_name: Mapped[str | None] = mapped_column(String(255))
    from_email: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(16), default="api")
    body: Mapped[str] = mapped_column(Text, default="")
    internal: Mapped[bool] = mapped_column(default=False)
    message_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[created_ts]

    ticket: Mapped[Ticket] = relationship(back_populates="messages")


class AssignmentRule(Base):
    """Who gets new tickets: for a category (or any), by ``round_robin`` or ``least_loaded`` among members."""

    __tablename__ = "service_assignment_rules"

    id: Mapped[intpk]
    name: Mapped[str120]
    category_id: Mapped[int | None] = mapped_column(ForeignKey("service_categories.id", ondelete="CASCADE"))
    strategy: Mapped[str] = mapped_column(String(16), default="round_robin", info={"choices": STRATEGIES})
    member_ids: Mapped[list[Any]] = mapped_column(default=list)
    last_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(default=100)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1, nullable=False)

    category = relationship("Category", lazy="joined")
    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class Visit(Base):
    """An on-site visit for a ticket: technician, time window, address, outcome and parts used."""

    __tablename__ = "service_visits"
    __table_args__ = (Index("ix_service_visits_tech_start", "technician_id", "window_start"),)

    id: Mapped[intpk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("service_tickets.id", ondelete="CASCADE"), index=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    address: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    outcome: Mapped[str | None] = mapped_column(Text)
    parts_used: Mapped[list[Any]] = mapped_column(default=list)
    completed_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]

    ticket = relationship("Ticket", lazy="joined")
    technician = relationship("User", lazy="joined")
    __mapper_args__ = {"version_id_col": version}


class FollowUpRule(Base):
    """Schedule follow-ups ``offsets_days`` after an order (``order``) or a resolved ticket (``ticket``)."""

    __tablename__ = "service_followup_rules"

    id: Mapped[intpk]
    name: Mapped[str120]
    trigger: Mapped[str] = mapped_column(String(16), default="ticket", info={"choices": TRIGGERS})
    offsets_days: Mapped[list[Any]] = mapped_column(default=list)
    channel: Mapped[str] = mapped_column(String(16), default="phone", info={"choices": FOLLOWUP_CHANNELS})
    active: Mapped[bool] = mapped_column(default=True)

    def __str__(self) -> str:
        return self.name


class FollowUp(Base):
    """One due follow-up contact with a customer and, once done, its outcome."""

    __tablename__ = "service_followups"
    __table_args__ = (UniqueConstraint("rule_id", "source", "step", name="uq_service_followups_step"),)

    id: Mapped[intpk]
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("service_followup_rules.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(80))
    step: Mapped[int] = mapped_column(default=0)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("service_tickets.id", ondelete="SET NULL"))
    order_number: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[dt.datetime] = mapped_column(index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="due")
    outcome: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]

    customer = relationship("Customer", lazy="joined")
    __mapper_args__ = {"version_id_col": version}


class QualityRecord(Base):
    """A defect or feedback about a product, linked to an order and a ticket; cause and fix."""

    __tablename__ = "service_quality_records"

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(16), default="defect", info={"choices": QUALITY_KINDS})
    product_code: Mapped[str] = mapped_column(String(64), index=True)
    product_name: Mapped[str | None] = mapped_column(String(255))
    order_number: Mapped[str | None] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("service_tickets.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    quantity: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 3), default=decimal.Decimal("1"))
    severity: Mapped[str] = mapped_column(String(16), default="minor", info={"choices": SEVERITIES})
    description: Mapped[str] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    corrective_action: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open", info={"choices": QUALITY_STATES})
    reported_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]

    __mapper_args__ = {"version_id_col": version}


class Survey(Base):
    """A CSAT (1-5, after a resolved ticket) or NPS (0-10) survey answered through a token link."""

    __tablename__ = "service_surveys"

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(8), default="csat")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("service_tickets.id", ondelete="SET NULL"), unique=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sent_at: Mapped[created_ts]
    expires_at: Mapped[dt.datetime]
    answered_at: Mapped[dt.datetime | None]
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """Delivery data of an order (from the ERP or a carrier): promised and actual times, damage."""

    __tablename__ = "service_deliveries"

    id: Mapped[intpk]
    order_number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    carrier: Mapped[str | None] = mapped_column(String(120))
    rush: Mapped[bool] = mapped_column(default=False)
    promised_dispatch_at: Mapped[dt.datetime | None]
    dispatched_at: Mapped[dt.datetime | None]
    promised_arrival_at: Mapped[dt.datetime | None]
    arrived_at: Mapped[dt.datetime | None]
    damaged: Mapped[bool] = mapped_column(default=False)
    completed: Mapped[bool] = mapped_column(default=False)
    lines: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]


MODELS: list[type] = [TicketState, TicketTransition, Category, Calendar, CalendarDay, SlaPolicy, Ticket, TicketMessage,
                      AssignmentRule, Visit, FollowUpRule, FollowUp, QualityRecord, Survey, Delivery]
