"""The journeys' tables: a journey's entry trigger, its versioned steps and branches, enrolments, the step log
and the configured calendar of dates (Spring Festival...)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.contracts import MERGE_KEEP_WINNER
from crmcore.db import Base, UTCDateTime, created_ts, intpk

TRIGGER_KINDS = ("audience", "date_field", "calendar", "event", "no_order", "api")
CALENDAR_RULES = ("nth_weekday", "fixed", "calendar")
EVENTS = ("sales.order.created", "service.ticket.resolved", "customer.created", "sales.lead.created",
          "analysis.segment.changed")
STEP_KINDS = ("send", "wait", "condition", "random", "update", "activity", "notify", "goal")
BEHAVIOURS = ("opened", "clicked", "ordered")
ENROLMENT_STATES = ("active", "done", "goal", "left")


class Journey(Base):
    """A journey campaign's entry trigger and the version of its steps new entries get."""

    __tablename__ = "marketing_journeys"
    __table_args__ = {"info": {"crm_stamps": ("journeys",)}}  # what a process keeps: the journeys events enter

    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id", ondelete="CASCADE"), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16), default="api", info={"choices": TRIGGER_KINDS})
    # who may enter (every trigger): the members of this audience; none: every live customer
    audience_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_audiences.id", ondelete="SET NULL"))
    # and who meet this condition (the core condition language over customers, custom fields included)
    condition: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    recurring: Mapped[bool] = mapped_column(default=False)  # audience: new members enter on every run
    date_field: Mapped[str | None] = mapped_column(String(64))  # date_field: a customer field or custom field
    offset_days: Mapped[int] = mapped_column(default=0)  # date_field / calendar: negative = before the date
    yearly: Mapped[bool] = mapped_column(default=True)  # date_field: every year on the anniversary
    calendar_rule: Mapped[str | None] = mapped_column(String(16), info={"choices": CALENDAR_RULES})
    month: Mapped[int | None]
    day: Mapped[int | None]
    nth: Mapped[int | None]  # nth_weekday: 1..5, -1 the last
    weekday: Mapped[int | None]  # 0 Monday .. 6 Sunday
    calendar_name: Mapped[str | None] = mapped_column(String(64))  # calendar: a name in marketing_calendar_dates
    event: Mapped[str | None] = mapped_column(String(64), info={"choices": EVENTS})
    no_order_days: Mapped[int | None]
    scanned_on: Mapped[dt.date | None] = mapped_column(Date)  # the last day the trigger was looked at
    version: Mapped[int] = mapped_column(default=1)  # the steps new entries follow


class JourneyStep(Base):
    """One step of one version of a journey. ``next_step_id`` is where it goes on (the "yes" branch of a
    condition split); ``else_step_id`` the "no" branch; a random split's branches are ``JourneyBranch`` rows."""

    __tablename__ = "marketing_journey_steps"
    __table_args__ = (UniqueConstraint("campaign_id", "version", "name"),)

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(default=1)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16), info={"choices": STEP_KINDS})
    template_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_templates.id", ondelete="SET NULL"))
    channel: Mapped[str | None] = mapped_column(String(16))
    wait_days: Mapped[int | None]
    wait_hours: Mapped[int | None]
    wait_until: Mapped[dt.datetime | None] = mapped_column(DateTime)  # a wall-clock time (no zone): in the recipient's time zone
    condition: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # condition split, goal
    behaviour: Mapped[str | None] = mapped_column(String(16), info={"choices": BEHAVIOURS})
    field: Mapped[str | None] = mapped_column(String(64))  # update: a customer field
    value: Mapped[str | None] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(64))  # update: a tag to add
    subject: Mapped[str | None] = mapped_column(String(255))  # activity, notify
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # notify
    next_step_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_journey_steps.id", ondelete="SET NULL"))
    else_step_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_journey_steps.id", ondelete="SET NULL"))

    def __str__(self) -> str:
        return self.name


class JourneyBranch(Base):
    """A random split's branch: its label, its share (percent) and where it goes."""

    __tablename__ = "marketing_journey_branches"
    __table_args__ = (UniqueConstraint("step_id", "label"),)

    id: Mapped[intpk]
    step_id: Mapped[int] = mapped_column(ForeignKey("marketing_journey_steps.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(16))
    share: Mapped[int] = mapped_column(default=50)
    next_step_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_journey_steps.id", ondelete="SET NULL"))


class Enrolment(Base):
    """A customer in a journey, once per entry (``entry``: ``once``, the year of a yearly date, an event id...)."""

    __tablename__ = "marketing_enrolments"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id", "entry"),
                      Index("ix_marketing_enrolments_due", "state", "next_run_at"),
                      {"info": {"merge_policy": MERGE_KEEP_WINNER}})

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    entry: Mapped[str] = mapped_column(String(64), default="once")
    version: Mapped[int] = mapped_column(default=1)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_journey_steps.id", ondelete="SET NULL"))
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="active", info={"choices": ENROLMENT_STATES})
    entered_at: Mapped[created_ts]
    left_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class StepLog(Base):
    """What a step did for one enrolment: at most one row per (enrolment, step), so a rerun repeats nothing."""

    __tablename__ = "marketing_step_log"
    __table_args__ = (UniqueConstraint("enrolment_id", "step_id"),)

    id: Mapped[intpk]
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("marketing_enrolments.id", ondelete="CASCADE"))
    step_id: Mapped[int] = mapped_column(ForeignKey("marketing_journey_steps.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # started, done, sent, skipped, yes, no, a branch label
    detail: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # a wait's end
    at: Mapped[created_ts]


class CalendarDate(Base):
    """A date of a named calendar a trigger can use (``春节`` 2027-02-06...), configured by staff."""

    __tablename__ = "marketing_calendar_dates"
    __table_args__ = (UniqueConstraint("name", "date"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(64))
    date: Mapped[dt.date] = mapped_column(Date)


MODELS: list[type] = [Journey, JourneyStep, JourneyBranch, Enrolment, StepLog, CalendarDate]
