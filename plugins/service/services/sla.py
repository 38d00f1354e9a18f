"""SLA: choose a ticket's policy, compute its due times in business hours, pause and resume the
resolution clock while waiting on the customer, and detect breaches (the scheduled job)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select

from crmcore.db import utcnow
from crmcore.errors import NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from ..models import Calendar, CalendarDay, SlaPolicy, Ticket
from ..schemas_settings import BusinessCalendarSchema, SlaPolicySchema
from .businesshours import ALWAYS, BusinessHours
from .states import keys_in_phase


def hours_of(calendar: Calendar | None) -> BusinessHours:
    """The ``BusinessHours`` of a stored calendar (round the clock without one)."""
    if calendar is None:
        return ALWAYS
    return BusinessHours.from_data(calendar.timezone, calendar.weekly or None,
                                   [(d.day, d.kind, d.hours) for d in calendar.days])


def policy_for(ctx: ServiceContext, priority: str, customer_level: str | None) -> SlaPolicy | None:
    """The active policy for the priority and the customer's level; a level-specific one wins."""
    rows = list(ctx.session.scalars(select(SlaPolicy).where(
        SlaPolicy.active.is_(True), SlaPolicy.priority == priority,
        or_(SlaPolicy.customer_level.is_(None), SlaPolicy.customer_level == customer_level))
        .order_by(SlaPolicy.id)))
    specific = [p for p in rows if p.customer_level is not None and p.customer_level == customer_level]
    return (specific or [p for p in rows if p.customer_level is None] or [None])[0]


def apply_policy(ctx: ServiceContext, ticket: Ticket, start: dt.datetime | None = None) -> None:
    """Set the policy and both due times of a new or re-prioritised ticket. The first response is
    counted from ``start`` (default: its creation); the resolution from the start of its resolution
    clock (creation, or its reopening) plus every earlier pause (``paused_minutes``), so a priority
    change does not lose the business time the ticket spent waiting on the customer."""
    level = ticket.customer.level if ticket.customer is not None else None
    policy = policy_for(ctx, ticket.priority, level)
    ticket.sla_policy_id = policy.id if policy else None
    ticket.sla_policy = policy
    if policy is None:
        ticket.first_response_due_at = ticket.resolution_due_at = None
        return
    hours = hours_of(policy.calendar)
    start = start or ticket.created_at or utcnow()
    if ticket.first_responded_at is None:
        ticket.first_response_due_at = hours.add(start, policy.first_response_minutes)
    clock = ticket.resolution_started_at or start
    ticket.resolution_due_at = hours.add(clock, policy.resolution_minutes + paused_minutes(ticket, hours))


def paused_minutes(ticket: Ticket, hours: BusinessHours) -> float:
    """Business minutes of the ticket's finished pauses since its resolution clock started."""
    total = 0.0
    for begin, end in ticket.sla_pauses or []:
        total += max(hours.minutes_between(dt.datetime.fromisoformat(begin), dt.datetime.fromisoformat(end)), 0)
    return total


def pause(ticket: Ticket, now: dt.datetime) -> None:
    """Stop the resolution clock (entering a paused state)."""
    if ticket.paused_since is None:
        ticket.paused_since = now


def resume(ticket: Ticket, now: dt.datetime) -> None:
    """Restart the resolution clock: the business time left at the pause counts from ``now``; the
    pause is kept in ``sla_pauses`` for later recomputations."""
    if ticket.paused_since is None:
        return
    if ticket.resolution_due_at is not None and ticket.resolution_breached_at is None:
        hours = hours_of(ticket.sla_policy.calendar if ticket.sla_policy else None)
        left = max(hours.minutes_between(ticket.paused_since, ticket.resolution_due_at), 0)
        ticket.resolution_due_at = hours.add(now, left)
    ticket.sla_pauses = [*(ticket.sla_pauses or []), [ticket.paused_since.isoformat(), now.isoformat()]]
    ticket.paused_since = None


def restart(ticket: Ticket, now: dt.datetime) -> None:
    """A reopened ticket: a new resolution clock from ``now`` (earlier pauses no longer count)."""
    ticket.resolution_started_at = now
    ticket.sla_pauses = []
    if ticket.sla_policy is not None:
        ticket.resolution_due_at = hours_of(ticket.sla_policy.calendar).add(now, ticket.sla_policy.resolution_minutes)
        ticket.resolution_breached_at = None


def record_late(ticket: Ticket, now: dt.datetime) -> None:
    """Mark a target missed when it is met late, before the breach job saw it (for the compliance report)."""
    if ticket.first_responded_at is not None and ticket.first_response_due_at is not None \
            and ticket.first_response_breached_at is None and ticket.first_responded_at > ticket.first_response_due_at:
        ticket.first_response_breached_at = ticket.first_responded_at
    if ticket.resolved_at is not None and ticket.resolution_due_at is not None \
            and ticket.resolution_breached_at is None and ticket.resolved_at > ticket.resolution_due_at:
        ticket.resolution_breached_at = ticket.resolved_at


def compliance(ctx: ServiceContext, start: dt.datetime, end: dt.datetime, by: str = "all") -> list[dict[str, Any]]:
    """SLA compliance of the tickets resolved in [start, end) that had a policy: how many met their
    first-response and resolution targets, overall or per assignee (``by="agent"``)."""
    from sqlalchemy import func

    ctx.require("service.report.read")
    key = Ticket.assignee_id if by == "agent" else None
    cols = [func.count(Ticket.id), func.count(Ticket.id).filter(Ticket.first_response_breached_at.is_(None)),
            func.count(Ticket.id).filter(Ticket.resolution_breached_at.is_(None))]
    stmt = select(*(([key] if key is not None else []) + cols)).where(
        Ticket.sla_policy_id.is_not(None), Ticket.resolved_at.is_not(None), Ticket.resolved_at >= start,
        Ticket.resolved_at < end)
    if key is not None:
        stmt = stmt.group_by(key).order_by(key)
    out = []
    for row in ctx.session.execute(stmt):
        row = tuple(row)
        subject, (n, first_ok, resolution_ok) = (row[0], row[1:]) if key is not None else (None, row)
        if not n:
            continue
        out.append({"agent": subject, "tickets": n, "first_response_met": round(first_ok / n, 4),
                    "resolution_met": round(resolution_ok / n, 4)})
    return out


def timer(ticket: Ticket, now: dt.datetime | None = None) -> dict[str, Any]:
    """The SLA state of a ticket for the queue: what is due next, minutes left (business), breached."""
    now = now or utcnow()
    hours = hours_of(ticket.sla_policy.calendar if ticket.sla_policy else None)
    out: dict[str, Any] = {"paused": ticket.paused_since is not None, "breached": bool(
        ticket.first_response_breached_at or ticket.resolution_breached_at)}
    if ticket.first_responded_at is None and ticket.first_response_due_at is not None and ticket.resolved_at is None:
        target, due = "first_response", ticket.first_response_due_at
    elif ticket.resolved_at is None and ticket.resolution_due_at is not None:
        target, due = "resolution", ticket.resolution_due_at
    else:
        return {**out, "target": None, "due_at": None, "minutes_left": None}
    ref = ticket.paused_since if target == "resolution" and ticket.paused_since else now
    return {**out, "target": target, "due_at": due, "minutes_left": round(hours.minutes_between(ref, due))}


CHUNK = 200  # breaches committed together: a long backlog never holds the (SQLite) write lock for long


def check_breaches(ctx: ServiceContext, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Mark tickets whose first response or resolution is overdue; each breach is audited and
    emits ``service.ticket.sla_breached`` and ``service.ticket.escalated``. Idempotent: the overdue
    tickets are found first, then marked ``CHUNK`` at a time, each chunk its own transaction (a run
    stopped halfway is finished by the next)."""
    now = now or utcnow()
    done = keys_in_phase(ctx, "done")
    found: list[dict[str, Any]] = []
    first = list(ctx.session.scalars(select(Ticket.id).where(
        Ticket.first_responded_at.is_(None), Ticket.first_response_breached_at.is_(None),
        Ticket.first_response_due_at < now, Ticket.state.not_in(done)).order_by(Ticket.id)))
    late = list(ctx.session.scalars(select(Ticket.id).where(
        Ticket.resolution_breached_at.is_(None), Ticket.paused_since.is_(None),
        Ticket.resolution_due_at < now, Ticket.state.not_in(done)).order_by(Ticket.id)))
    ctx.session.commit()  # end the read: the writes below each take the lock briefly
    work = [(i, "first_response") for i in first] + [(i, "resolution") for i in late]
    for start in range(0, len(work), CHUNK):
        with unit_of_work(ctx):
            for ticket_id, target in work[start:start + CHUNK]:
                t = ctx.session.get(Ticket, ticket_id, populate_existing=True)
                if target == "first_response":
                    if t is None or t.first_responded_at is not None or t.first_response_breached_at is not None:
                        continue  # answered or marked meanwhile
                    t.first_response_breached_at = now
                    found.append(_escalate(ctx, t, target, t.first_response_due_at, now))
                else:
                    if t is None or t.resolution_breached_at is not None or t.paused_since is not None:
                        continue
                    t.resolution_breached_at = now
                    found.append(_escalate(ctx, t, target, t.resolution_due_at, now))
    return found


def _escalate(ctx: ServiceContext, ticket: Ticket, target: str, due: dt.datetime | None, now: dt.datetime) -> dict[str, Any]:
    ticket.escalation_level += 1
    ctx.session.flush()
    info = {"number": ticket.number, "target": target, "due_at": due, "level": ticket.escalation_level,
            "assignee_id": ticket.assignee_id, "customer_id": ticket.customer_id, "priority": ticket.priority}
    record_change(ctx, "service_ticket", "sla_breached", ticket.id,
                  {f"{target}_breached_at": [None, now], "escalation_level": [ticket.escalation_level - 1,
                                                                             ticket.escalation_level]},
                  data=info, event_name="service.ticket.sla_breached")
    from crmcore.contracts import Event
    from crmcore.events import emit

    emit(ctx, Event(name="service.ticket.escalated", entity="service_ticket", entity_id=ticket.id, data=info))
    return {"ticket_id": ticket.id, **info}


# ---- calendars and policies (admin data) ------------------------------------------------------

CALENDAR_FIELDS = ("name", "timezone", "weekly")


_CALENDAR = BusinessCalendarSchema()


def validate_calendar(ctx: ServiceContext, data: dict[str, Any], existing: Calendar | None) -> dict[str, Any]:
    """A calendar's input checked by ``BusinessCalendarSchema`` (the name's length from the model, a known time
    zone, weekdays 1-7, hours as pairs each ending after it starts): the one validation, with messages in the
    reader's language (no parser's English)."""
    return load(_CALENDAR, data, partial=existing is not None, message=_("The calendar is not valid."))


def save_calendar(ctx: ServiceContext, data: dict[str, Any], calendar_id: int | None = None) -> Calendar:
    """Create or change a business-hours calendar; ``days`` (optional) replaces its exceptions."""
    ctx.require("service.sla.manage")
    cal = ctx.session.get(Calendar, calendar_id) if calendar_id else Calendar()
    if cal is None:
        raise NotFound(_("No such calendar."))
    data = validate_calendar(ctx, data, cal if calendar_id else None)
    days = [(d["day"], d.get("kind") or "holiday", d.get("hours")) for d in data.get("days") or []]
    with unit_of_work(ctx):
        changes = {}
        for key in CALENDAR_FIELDS:
            if key in data and getattr(cal, key) != data[key]:
                changes[key] = [getattr(cal, key), data[key]]
                setattr(cal, key, data[key])
        if "days" in data:
            cal.days = [CalendarDay(day=d, kind=k, hours=h, name=None) for d, k, h in days]
            changes["days"] = [None, len(days)]
        if calendar_id is None:
            ctx.session.add(cal)
        ctx.session.flush()
        record_change(ctx, "service_calendar", "updated" if calendar_id else "created", cal.id, changes)
    return cal


POLICY_FIELDS = ("name", "priority", "customer_level", "first_response_minutes", "resolution_minutes", "calendar_id",
                 "active")
_POLICY = SlaPolicySchema()


def validate_policy(ctx: ServiceContext, data: dict[str, Any], existing: SlaPolicy | None) -> dict[str, Any]:
    """An SLA policy's input checked by ``SlaPolicySchema`` (lengths and the priorities from the model, targets
    above zero; all fields for a new policy, those given for ``existing``) and a calendar that exists: the one
    validation of the API and the admin. Raises ``ValidationError`` with ``{field: [messages]}``."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        if values.get("calendar_id") is not None and ctx.session.get(Calendar, values["calendar_id"]) is None:
            return {"calendar_id": [_("No such calendar.")]}
        return {}

    return load(_POLICY, data, partial=existing is not None, message=_("The SLA policy is not valid."), check=check)


def save_policy(ctx: ServiceContext, data: dict[str, Any], policy_id: int | None = None) -> SlaPolicy:
    """Create or change an SLA policy."""
    ctx.require("service.sla.manage")
    policy = ctx.session.get(SlaPolicy, policy_id) if policy_id else SlaPolicy(active=True)
    if policy is None:
        raise NotFound(_("No such SLA policy."))
    data = validate_policy(ctx, data, policy if policy_id else None)
    with unit_of_work(ctx):
        changes = {}
        for key in POLICY_FIELDS:
            if key in data and getattr(policy, key) != data[key]:
                changes[key] = [getattr(policy, key), data[key]]
                setattr(policy, key, data[key])
        if policy_id is None:
            ctx.session.add(policy)
        ctx.session.flush()
        record_change(ctx, "service_sla_policy", "updated" if policy_id else "created", policy.id, changes)
    return policy
