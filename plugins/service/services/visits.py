"""Field service: on-site visits for a ticket (technician, time window, address, outcome, parts
used) and a technician's day list in the calendar's time zone."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any
from crmcore.timezones import zone

from sqlalchemy import or_, select

from crmcore.db import utcnow
from crmcore.errors import NotFound, PermissionDenied, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import User
from crmcore.services.access import team_ids
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext

from ..models import Visit
from .tickets import get_ticket

STATES = ("scheduled", "done", "failed", "cancelled")


def _parts(raw: Any, errors: dict[str, list[Any]]) -> list[dict[str, Any]]:
    out = []
    for item in raw or []:
        try:
            code = str(item["part"]).strip()
            qty = Decimal(str(item.get("quantity", 1)))
        except (KeyError, TypeError, InvalidOperation):
            errors["parts_used"] = [_("Each part needs 'part' and a numeric 'quantity'.")]
            return []
        if not code or qty <= 0:
            errors["parts_used"] = [_("Each part needs 'part' and a numeric 'quantity'.")]
            return []
        out.append({"part": code, "quantity": str(qty), "note": str(item.get("note") or "")[:255]})
    return out


def schedule_visit(ctx: ServiceContext, ticket_id: int, data: dict[str, Any]) -> Visit:
    """Plan a visit; a technician cannot be booked twice for overlapping windows."""
    ctx.require("service.visit.write")
    ticket = get_ticket(ctx, ticket_id)
    errors: dict[str, list[Any]] = {}
    tech = ctx.session.get(User, data.get("technician_id") or 0)
    if tech is None or not tech.active:
        errors["technician_id"] = [_("No such active user.")]
    start, end = data.get("window_start"), data.get("window_end")
    if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime) or start.tzinfo is None \
            or end.tzinfo is None or end <= start:
        errors["window_end"] = [_("Give a time window with time zones, the end after the start.")]
    if not (data.get("address") or "").strip():
        errors["address"] = [_("An address is required.")]
    if errors:
        raise ValidationError(_("The visit is not valid."), errors=errors)
    overlapping = select(Visit.id).where(Visit.technician_id == tech.id, Visit.state == "scheduled",
                                         Visit.window_start < end, Visit.window_end > start)
    clash = ctx.session.scalar(overlapping)
    if clash is not None:
        # name the visit only when the actor may see it (scope_visits); otherwise just say it overlaps
        shown = ctx.session.scalar(scope_visits(ctx, overlapping))
        raise ValidationError(_("The technician already has a visit in this window."),
                              errors={"window_start": [_("Overlaps visit %(id)s.", id=shown) if shown is not None
                                                       else _("Overlaps another visit of this technician.")]})
    with unit_of_work(ctx):
        visit = Visit(ticket_id=ticket.id, technician_id=tech.id, window_start=start, window_end=end,
                      address=data["address"].strip()[:500], state="scheduled", parts_used=[])
        ctx.session.add(visit)
        ctx.session.flush()
        record_change(ctx, "service_visit", "created", visit.id,
                      {"technician_id": [None, tech.id], "window_start": [None, start]},
                      data={"ticket_id": ticket.id}, event_name="service.visit.scheduled")
    return visit


def complete_visit(ctx: ServiceContext, visit_id: int, data: dict[str, Any], now: dt.datetime | None = None) -> Visit:
    """Record a visit's outcome (``done`` or ``failed``) and the parts used; only its technician or
    someone with ``service.visit.write`` for every technician (scope team/all) may."""
    visit = ctx.session.get(Visit, visit_id)
    if visit is None:
        raise NotFound(_("No such visit."))
    get_ticket(ctx, visit.ticket_id)
    ctx.require("service.visit.write")
    if ctx.scope == "own" and visit.technician_id != ctx.actor.id:
        raise PermissionDenied(_("Only the technician of this visit may report it."))
    errors: dict[str, list[Any]] = {}
    state = data.get("state", "done")
    if state not in ("done", "failed"):
        errors["state"] = [_("Choose one of: %(choices)s.", choices="done, failed")]
    if not (data.get("outcome") or "").strip():
        errors["outcome"] = [_("Say what was done.")]
    parts = _parts(data.get("parts_used"), errors)
    if visit.state != "scheduled":
        errors["state"] = [_("This visit is already closed.")]
    if errors:
        raise ValidationError(_("The visit report is not valid."), errors=errors)
    with unit_of_work(ctx):
        visit.state, visit.outcome, visit.parts_used = state, data["outcome"].strip(), parts
        visit.completed_at = now or utcnow()
        ctx.session.flush()
        record_change(ctx, "service_visit", "completed", visit.id, {"state": ["scheduled", state]},
                      data={"ticket_id": visit.ticket_id, "parts_used": parts}, event_name="service.visit.completed")
    return visit


def scope_visits(ctx: ServiceContext, stmt: Any) -> Any:
    """Restrict a select over ``Visit`` to the technicians whose schedule the actor may see: their own
    (scope own), their teams' members' (scope team), everyone's (scope all)."""
    if ctx.scope == "all":
        return stmt
    if ctx.scope == "team":
        teams = team_ids(ctx)
        if teams:
            return stmt.where(or_(Visit.technician_id == ctx.actor.id,
                                  Visit.technician_id.in_(select(User.id).where(User.team_id.in_(teams)))))
    return stmt.where(Visit.technician_id == ctx.actor.id)


def day_list(ctx: ServiceContext, technician_id: int, day: dt.date, timezone: str = "Asia/Shanghai") -> list[Visit]:
    """A technician's visits whose window starts on ``day`` (a local date in ``timezone``)."""
    ctx.require("service.visit.read")
    if ctx.scope == "own" and technician_id != ctx.actor.id:
        raise PermissionDenied(_("You can only see your own day list."))
    if ctx.scope == "team" and technician_id != ctx.actor.id:
        tech = ctx.session.get(User, technician_id)
        if tech is None or tech.team_id not in team_ids(ctx):
            raise PermissionDenied(_("You can only see the day lists of your team."))
    tz = zone(timezone)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return list(ctx.session.scalars(select(Visit).where(Visit.technician_id == technician_id,
                                                        Visit.window_start >= start, Visit.window_start < end,
                                                        Visit.state != "cancelled")
                                    .order_by(Visit.window_start)))
