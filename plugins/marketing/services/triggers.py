"""How customers enter journeys: the API (``enter``), an audience (once, or recurring: new members enter), a
date field (N days before/after, yearly), a calendar rule (the second Sunday of May, 11-11, a configured
calendar such as the Spring Festival), events through ``crm_events`` and "no order for N days".

Each entry is one enrolment, unique per (journey, customer, entry key): the key says which occurrence it is
(``once``, ``2027-05-09`` for a date, the event's id), so a trigger looked at twice enters nobody twice.
The date triggers look at every day since the last look (``scanned_on``): a job that did not run for a few
days skips nobody."""
from __future__ import annotations

import calendar as _calendar
import datetime as dt
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from crmcore import entities
from crmcore.contracts import Event
from crmcore.db import utcnow
from crmcore.errors import Conflict
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services import stamps

from ..models import Audience, Campaign
from ..models_journeys import CalendarDate, Enrolment, Journey, JourneyStep
from . import audiences, date_trigger

CATCH_UP_DAYS = 31  # a first look, or one after a long pause, goes at most this far back
ENTER_CHUNK = 5000  # customers entered per statement: ids given, or a range of ids set-based


def date_fields(ctx: ServiceContext) -> dict[str, str]:
    """The customer's date fields a trigger may use, by name (columns, plugin fields, date custom fields)."""
    out = {name: str(f.label or name) for name, f in entities.condition_fields(ctx, "customer").items()
           if f.kind in ("date", "datetime") and name not in ("deleted_at", "updated_at")}
    from crmcore.services.custom_fields import active_fields

    out.update({f"attributes.{f.name}": str(f.label) for f in active_fields(ctx, "customer") if f.type == "date"})
    return out


def today(ctx: ServiceContext, now: dt.datetime | None = None) -> dt.date:
    zone = str(ctx.settings.get("MARKETING_TIMEZONE") or ctx.settings.get("DEFAULT_TIMEZONE") or "UTC")
    return (now or utcnow()).astimezone(ZoneInfo(zone)).date()


# ---- entering ------------------------------------------------------------------------------------------

def _running(ctx: ServiceContext, campaign_id: int) -> Journey:
    campaign = ctx.session.get(Campaign, campaign_id)
    journey = ctx.session.get(Journey, campaign_id)
    if campaign is None or journey is None:
        raise Conflict(_("Journey %(id)s does not exist.", id=campaign_id))
    if campaign.status not in ("running", "paused"):
        raise Conflict(_("Only a running journey takes entries; start it first."))
    return journey


def _allowed(ctx: ServiceContext, journey: Journey) -> ColumnElement[bool]:
    """SQL over ``customers``: a live customer the journey lets in (its audience, its entry condition)."""
    parts: list[Any] = [Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)]
    audience = ctx.session.get(Audience, journey.audience_id) if journey.audience_id else None
    if audience is not None:
        parts.append(audiences.members_clause(ctx, audience))
    if journey.condition is not None:
        from crmcore.conditions.sql import compile_sql
        from crmcore.services.condition_fields import fields_for  # what journeys.customer_fields answers

        parts.append(compile_sql(journey.condition, fields_for(ctx, "customer")))
    return and_(*parts)


def _first_step(ctx: ServiceContext, journey: Journey) -> int | None:
    return ctx.session.scalar(select(JourneyStep.id).where(
        JourneyStep.campaign_id == journey.campaign_id, JourneyStep.version == journey.version)
        .order_by(JourneyStep.position, JourneyStep.id).limit(1))


def enter(ctx: ServiceContext, campaign_id: int, customer_ids: Iterable[int], entry: str = "once",
          now: dt.datetime | None = None) -> dict[str, Any]:
    """Put customers into a running (or paused) journey. Those not allowed by its audience, unknown or
    deleted are not; those already in for this ``entry`` stay as they are. Returns the counts and ids.
    The ids go to the database ``ENTER_CHUNK`` at a time, however many there are."""
    journey = _running(ctx, campaign_id)
    wanted = sorted({int(i) for i in customer_ids})
    allowed: set[int] = set()
    already: set[int] = set()
    new: list[int] = []
    for i in range(0, len(wanted), ENTER_CHUNK):
        chunk = wanted[i:i + ENTER_CHUNK]
        ok, was, added = _enter_chunk(ctx, journey, chunk, entry, now)
        allowed |= ok
        already |= was
        new += added
    return {"entered": len(new), "already": len(already & allowed), "not_allowed": len(set(wanted) - allowed),
            "customer_ids": new}


def _enter_chunk(ctx: ServiceContext, journey: Journey, wanted: list[int], entry: str,
                 now: dt.datetime | None) -> tuple[set[int], set[int], list[int]]:
    campaign_id, version = journey.campaign_id, journey.version
    allowed = set(ctx.session.scalars(select(Customer.id).where(Customer.id.in_(wanted), _allowed(ctx, journey))))
    already = set(ctx.session.scalars(select(Enrolment.customer_id).where(
        Enrolment.campaign_id == campaign_id, Enrolment.entry == entry[:64], Enrolment.customer_id.in_(wanted))))
    first = _first_step(ctx, journey)
    new = sorted(allowed - already)
    at = now or utcnow()
    rows = [{"campaign_id": campaign_id, "customer_id": cid, "entry": entry[:64], "version": version,
             "step_id": first, "next_run_at": at, "state": "active", "entered_at": at} for cid in new]
    if rows:
        try:
            ctx.session.execute(insert(Enrolment), rows)
            ctx.session.commit()
        except IntegrityError:  # another worker entered some of them meanwhile: one by one, keeping theirs
            ctx.session.rollback()
            for row in rows:
                try:
                    with ctx.session.begin_nested():
                        ctx.session.execute(insert(Enrolment), [row])
                except IntegrityError:
                    new.remove(row["customer_id"])
            ctx.session.commit()
    return allowed, already, new


def enter_where(ctx: ServiceContext, campaign_id: int, candidates: ColumnElement[bool] | None, entry: str = "once",
                now: dt.datetime | None = None) -> int:
    """Set-based entry: the customers ``candidates`` names (None: every one) whom the journey lets in and who are
    not in for this ``entry`` yet, entered by ``INSERT ... SELECT`` over ranges of at most ``ENTER_CHUNK``
    customer ids (no id list goes to the database, however large the audience). Returns how many entered."""
    journey = _running(ctx, campaign_id)
    key, version, first, at = entry[:64], journey.version, _first_step(ctx, journey), now or utcnow()
    who = _allowed(ctx, journey) if candidates is None else and_(_allowed(ctx, journey), candidates)
    not_in = ~exists().where(Enrolment.campaign_id == campaign_id, Enrolment.entry == key,
                             Enrolment.customer_id == Customer.id)
    table = Enrolment.__table__.c
    columns = ["campaign_id", "customer_id", "entry", "version", "step_id", "next_run_at", "state", "entered_at"]
    total, low = 0, None
    while True:
        bound = select(Customer.id).order_by(Customer.id).offset(ENTER_CHUNK - 1).limit(1)
        high = ctx.session.scalar(bound if low is None else bound.where(Customer.id > low))
        span = ([Customer.id > low] if low is not None else []) + ([Customer.id <= high] if high is not None else [])
        source = select(literal(campaign_id, table.campaign_id.type), Customer.id, literal(key, table.entry.type),
                        literal(version, table.version.type), literal(first, table.step_id.type),
                        literal(at, table.next_run_at.type), literal("active", table.state.type),
                        literal(at, table.entered_at.type)).where(who, not_in, *span)
        for attempt in range(3):
            try:
                count = len(ctx.session.execute(insert(Enrolment).from_select(columns, source)
                                                .returning(Enrolment.id)).all())  # at most ENTER_CHUNK ids
                ctx.session.commit()
                total += count
                break
            except IntegrityError:  # another worker entered some of them meanwhile: again, skipping theirs
                ctx.session.rollback()
                if attempt == 2:
                    raise
        if high is None:
            return total
        low = high


# ---- looking at the triggers ---------------------------------------------------------------------------

def scan(ctx: ServiceContext, campaign_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Look at the triggers of the running journeys (or one) and enter who they name; return how many."""
    stmt = select(Journey).join(Campaign, Campaign.id == Journey.campaign_id).where(
        Campaign.kind == "journey", Campaign.status == "running")
    if campaign_id is not None:
        stmt = stmt.where(Journey.campaign_id == campaign_id)
    day = today(ctx, now)
    total = 0
    for journey in list(ctx.session.scalars(stmt)):
        total += _scan_one(ctx, journey, day, now)
        journey.scanned_on = day
        ctx.session.commit()
    return total


def _days(journey: Journey, day: dt.date) -> list[dt.date]:
    """The days not looked at yet, up to ``day``."""
    start = journey.scanned_on + dt.timedelta(days=1) if journey.scanned_on else day
    start = max(start, day - dt.timedelta(days=CATCH_UP_DAYS))
    return [start + dt.timedelta(days=i) for i in range((day - start).days + 1)]


def _scan_one(ctx: ServiceContext, journey: Journey, day: dt.date, now: dt.datetime | None) -> int:
    kind, cid = journey.trigger, journey.campaign_id
    if kind == "audience":
        if journey.scanned_on is not None and not journey.recurring:
            return 0
        return enter_where(ctx, cid, None, "once", now)  # the journey's audience: its compiled SQL
    days = _days(journey, day)
    if not days:
        return 0
    total = 0
    if kind == "calendar":
        for occurrence in occurrences(ctx, journey, {d.year for d in days} | {d.year + 1 for d in days}):
            if occurrence + dt.timedelta(days=journey.offset_days) in days:
                total += enter_where(ctx, cid, None, occurrence.isoformat(), now)
    elif kind == "date_field" and journey.date_field:
        anchors = [d - dt.timedelta(days=journey.offset_days) for d in days]
        for anchor, who in sorted(date_trigger.matching(ctx, journey.date_field, anchors, journey.yearly).items()):
            key = str(anchor.year) if journey.yearly else anchor.isoformat()
            for i in range(0, len(who), ENTER_CHUNK):
                total += int(enter(ctx, cid, who[i:i + ENTER_CHUNK], f"{journey.date_field[:40]}:{key}", now)["entered"])
    elif kind == "no_order" and journey.no_order_days:
        try:
            from plugins.sales.models import Order
        except ImportError:
            return 0
        lo = days[0] - dt.timedelta(days=journey.no_order_days)
        hi = days[-1] - dt.timedelta(days=journey.no_order_days)
        last = func.max(Order.order_date)
        lasts = select(Order.customer_id, last.label("last")).where(Order.status != "cancelled") \
            .group_by(Order.customer_id).having(last >= lo, last <= hi).subquery()
        for last_date in sorted(set(ctx.session.scalars(select(lasts.c.last).distinct()))):
            idle = Customer.id.in_(select(lasts.c.customer_id).where(lasts.c.last == last_date))
            total += enter_where(ctx, cid, idle, f"idle:{last_date.isoformat()}", now)
    return total


def nth_weekday(year: int, month: int, nth: int, weekday: int) -> dt.date:
    """The ``nth`` (1..5, -1: the last) ``weekday`` (0 Monday .. 6 Sunday) of a month."""
    days = [d for d in _calendar.Calendar().itermonthdates(year, month) if d.month == month and d.weekday() == weekday]
    return days[-1] if nth == -1 or nth > len(days) else days[nth - 1]


def occurrences(ctx: ServiceContext, journey: Journey, years: Iterable[int]) -> list[dt.date]:
    """The dates a calendar rule names in those years (before any offset)."""
    years = sorted(set(years))
    rule = journey.calendar_rule
    if rule == "calendar":
        return list(ctx.session.scalars(select(CalendarDate.date).where(
            CalendarDate.name == journey.calendar_name,
            CalendarDate.date >= dt.date(years[0], 1, 1), CalendarDate.date <= dt.date(years[-1], 12, 31))))
    out = []
    for year in years:
        if rule == "nth_weekday" and journey.month and journey.nth and journey.weekday is not None:
            out.append(nth_weekday(year, journey.month, journey.nth, journey.weekday))
        elif rule == "fixed" and journey.month and journey.day:
            last = _calendar.monthrange(year, journey.month)[1]
            out.append(dt.date(year, journey.month, min(journey.day, last)))
    return out


# ---- events --------------------------------------------------------------------------------------------

def customers_of(event: Event) -> list[int]:
    """The customers an event is about (an order's, a ticket's, a new customer, the RFM segment changes)."""
    data = event.data or {}
    if event.name == "analysis.segment.changed":
        return [int(c["customer_id"]) for c in data.get("changes") or [] if c.get("customer_id")]
    if event.name == "customer.created" and event.entity_id is not None:
        return [int(event.entity_id)]
    return [int(data["customer_id"])] if isinstance(data.get("customer_id"), int) else []


# built once: asked after every commit that emits events (building the statement cost more than running it)
_WAITING = select(Journey.campaign_id, Journey.event).join(Campaign, Campaign.id == Journey.campaign_id).where(
    Campaign.kind == "journey", Campaign.status == "running", Journey.trigger == "event",
    Journey.event.is_not(None)).order_by(Journey.campaign_id)


def waiting_journeys(ctx: ServiceContext) -> list[tuple[int, str]]:
    """``(campaign id, event name)`` of the running journeys an event enters; an API request takes what its process
    keeps while journeys and campaigns have not changed (``stamps.kept_value``)."""
    return stamps.kept_value(ctx.session, "journeys", lambda: [(r.campaign_id, r.event) for r in
                                                               ctx.session.execute(_WAITING)])


def on_events(ctx: ServiceContext, events: list[Event]) -> int:
    """The ``crm_events`` listener: enter the customers of the events running journeys wait for."""
    names = {e.name for e in events}
    total = 0
    for campaign_id, name in waiting_journeys(ctx) if names else []:
        if name not in names:
            continue
        for event in events:
            if event.name == name and (who := customers_of(event)):
                total += int(enter(ctx, campaign_id, who, f"ev:{event.id}")["entered"])
    return total
