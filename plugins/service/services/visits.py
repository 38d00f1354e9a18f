"""Field service: on-site visits for a ticket (technician, time window, address, outcome, parts
used) and a technician's day list in the calendar's time zone."""
from __future__ import annotations

import datetime as dt
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
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from ..models import Visit
from ..schemas import FieldVisitReportSchema, FieldVisitSchema
from .tickets import get_ticket

STATES = ("scheduled", "done", "failed", "cancelled")
_VISIT, _REPORT = FieldVisitSchema(), FieldVisitReportSchema()


def validate_visit(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """A new visit's input checked by ``FieldVisitSchema`` (times with their zones, the address's length from
    the model), then an active technician and a window that ends after it starts: the one validation of the
    API and the admin's ticket page. Raises ``ValidationError`` with ``{field: [messages]}``."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if "technician_id" in values:
            tech = ctx.session.get(User, values["technician_id"])
            if tech is None or not tech.active:
                errors["technician_id"] = [_("No such active user.")]
        start, end = values.get("window_start"), values.get("window_end")
        if start is not None and end is not None and end <= start:
            errors["window_end"] = [_("Give a time window with time zones, the end after the start.")]
        return errors

    return load(_VISIT, data, partial=False, message=_("The visit is not valid."), check=check)


def validate_report(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """A visit report checked by ``FieldVisitReportSchema`` (done or failed, what was done, each part with a
    positive quantity and a note of at most 255 characters): the one validation of the API and the admin."""
    loaded = load(_REPORT, data, partial=False, message=_("The visit report is not valid."))
    loaded["parts_used"] = [{"part": p["part"], "quantity": str(p["quantity"]), "note": p.get("note") or ""}
                            for p in loaded.get("parts_used") or []]
    return loaded


def schedule_visit(ctx: ServiceContext, ticket_id: int, data: dict[str, Any]) -> Visit:
    """Plan a visit; a technician cannot be booked twice for overlapping windows."""
    ctx.require("service.visit.write")
    ticket = get_ticket(ctx, ticket_id)
    data = validate_visit(ctx, data)
    tech_id, start, end = data["technician_id"], data["window_start"], data["window_end"]
    overlapping = select(Visit.id).where(Visit.technician_id == tech_id, Visit.state == "scheduled",
                                         Visit.window_start < end, Visit.window_end > start)
    clash = ctx.session.scalar(overlapping)
    if clash is not None:
        # name the visit only when the actor may see it (scope_visits); otherwise just say it overlaps
        shown = ctx.session.scalar(scope_visits(ctx, overlapping))
        raise ValidationError(_("The technician already has a visit in this window."),
                              errors={"window_start": [_("Overlaps visit %(id)s.", id=shown) if shown is not None
                                                       else _("Overlaps another visit of this technician.")]})
    with unit_of_work(ctx):
        visit = Visit(ticket_id=ticket.id, technician_id=tech_id, window_start=start, window_end=end,
                      address=data["address"], state="scheduled", parts_used=[])
        ctx.session.add(visit)
        ctx.session.flush()
        record_change(ctx, "service_visit", "created", visit.id,
                      {"technician_id": [None, tech_id], "window_start": [None, start]},
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
    if visit.state != "scheduled":
        raise ValidationError(_("The visit report is not valid."), errors={"state": [_("This visit is already closed.")]})
    data = validate_report(ctx, data)
    state, parts = data["state"], data["parts_used"]
    with unit_of_work(ctx):
        visit.state, visit.outcome, visit.parts_used = state, data["outcome"], parts
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
