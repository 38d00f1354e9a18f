"""Admin pages that are not tables of one model: the ticket queue with SLA timers and the ticket
page (reply, move, take, schedule and report visits, issue a new status link), the technician
schedule of a day, and the quality report (defect rates, satisfaction, logistics KPIs)."""
from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select

from crmcore.admin.forms import user_label
from crmcore.admin.views import SecureView, flash_crm_error
from crmcore.db import utcnow
from crmcore.schemas.common import db_id
from crmcore.timezones import is_zone
from crmcore.errors import CRMError, NotFound, ValidationError
from crmcore.i18n import gettext
from crmcore.models import User
from crmcore.runtime import ServiceContext

from ..models import PRIORITY_LABELS, Visit
from ..services import logistics, quality, sla, surveys, tickets
from ..services import portal as portal_svc
from ..services import visits as visit_svc
from ..services.mailout import recipient
from ..services.sla import timer
from ..services.states import allowed_moves, states
from .records import CHANNEL_LABELS, priority_badge, sla_cell

TZ = "Asia/Shanghai"


class QueueView(SecureView):
    """Open tickets in the actor's scope, most urgent first, each with its SLA timer."""

    permission = "service.ticket.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        mine = request.args.get("mine") == "1"
        items, total = tickets.list_tickets(ctx, open_only=True, page_size=200,
                                            assignee_id=ctx.actor.id if mine else None)
        names = {k: s.name for k, s in states(ctx).items()}
        rows = [{"ticket": t, "timer": tm, "cell": sla_cell(t, tm), "state": names.get(t.state, t.state),
                 "priority": priority_badge(t.priority)}
                for t, tm in ((t, timer(t)) for t in items)]
        return self.render("admin/service/queue.html", rows=rows, total=total, mine=mine)

    @expose("/ticket/<int:ticket_id>")
    def ticket(self, ticket_id: int) -> Any:
        """One ticket: its SLA timer, every message (internal notes marked), reply, move, take, its
        visits (schedule one, report one) and a button for a new customer status link."""
        return self._page(self.ctx(), ticket_id)

    def _page(self, ctx: ServiceContext, ticket_id: int, **extra: Any) -> Any:
        try:
            item = tickets.get_ticket(ctx, ticket_id)
        except NotFound:
            abort(404)
        names = {k: gettext(s.name) for k, s in states(ctx).items()}
        visits = ctx.session.scalars(select(Visit).where(Visit.ticket_id == item.id).order_by(Visit.window_start))
        can_visit = ctx.can("service.visit.write")
        technicians = [(u.id, user_label(u)) for u in ctx.session.scalars(
            select(User).where(User.active.is_(True)).order_by(User.username))] if can_visit else []
        tm = timer(item)
        return self.render("admin/service/ticket.html", ticket=item, timer=tm, sla_cell=sla_cell(item, tm),
                           names=names, priorities=PRIORITY_LABELS, channels=CHANNEL_LABELS, moves=allowed_moves(ctx, item.state) if ctx.can("service.ticket.write") else [],
                           can_write=ctx.can("service.ticket.write"), visits=list(visits), can_visit=can_visit,
                           technicians=technicians, timezones=VISIT_ZONES, **{"new_link": None, "mailed_to": None,
                                                                               **extra})

    def _act(self, ticket_id: int, call: Any, done: str) -> Any:
        ctx = self.ctx()
        try:
            call(ctx)
            flash(done, "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return redirect(url_for(".ticket", ticket_id=ticket_id))

    @expose("/ticket/<int:ticket_id>/reply", methods=["POST"])
    def reply(self, ticket_id: int) -> Any:
        data = {"body": request.form.get("body", ""), "internal": request.form.get("internal") == "y"}
        return self._act(ticket_id, lambda ctx: tickets.add_message(ctx, ticket_id, data),
                         gettext("Note added.") if data["internal"] else gettext("Reply added."))

    @expose("/ticket/<int:ticket_id>/move", methods=["POST"])
    def move(self, ticket_id: int) -> Any:
        state = request.form.get("state", "")
        return self._act(ticket_id, lambda ctx: tickets.transition(ctx, ticket_id, state,
                                                                   note=request.form.get("note") or None),
                         gettext("Ticket moved."))

    @expose("/ticket/<int:ticket_id>/take", methods=["POST"])
    def take(self, ticket_id: int) -> Any:
        return self._act(ticket_id, lambda ctx: tickets.update_ticket(ctx, ticket_id, {"assignee_id": ctx.actor.id}),
                         gettext("The ticket is yours."))


    @expose("/ticket/<int:ticket_id>/visit", methods=["POST"])
    def schedule_visit(self, ticket_id: int) -> Any:
        """Schedule an on-site visit (``services.visits.schedule_visit``, as ``POST .../visits``)."""
        def call(ctx: ServiceContext) -> Any:
            data = {"technician_id": _int(request.form.get("technician_id")),
                    "address": request.form.get("address", "")}
            data["window_start"], data["window_end"] = _window(request.form)
            return visit_svc.schedule_visit(ctx, ticket_id, data)

        return self._act(ticket_id, call, gettext("Visit scheduled."))

    @expose("/visit/<int:visit_id>/report", methods=["POST"])
    def report_visit(self, visit_id: int) -> Any:
        """Record a visit's outcome and parts (``services.visits.complete_visit``, as ``POST /visits/<id>/report``)."""
        ctx = self.ctx()
        visit = ctx.session.get(Visit, visit_id)
        if visit is None:
            abort(404)
        ticket_id = visit.ticket_id
        try:
            tickets.get_ticket(ctx, ticket_id)  # a visit of a ticket outside the reader's scope is a 404
        except NotFound:
            abort(404)

        def call(ctx: ServiceContext) -> Any:
            return visit_svc.complete_visit(ctx, visit_id, {
                "state": request.form.get("state", "done"), "outcome": request.form.get("outcome", ""),
                "parts_used": parse_parts(request.form.get("parts", ""))})

        return self._act(ticket_id, call, gettext("Visit report saved."))

    @expose("/ticket/<int:ticket_id>/link", methods=["POST"])
    def new_link(self, ticket_id: int) -> Any:
        """Issue a new status link (the old one stops working): shown once on this page, and mailed to
        the customer through the outbox when they have an address."""
        ctx = self.ctx()
        try:
            token = portal_svc.reissue_link(ctx, ticket_id)
        except NotFound:
            abort(404)
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
            return redirect(url_for(".ticket", ticket_id=ticket_id))
        base = str(ctx.settings.get("SERVICE_PUBLIC_URL") or "").rstrip("/")
        link = f"{base}/service/portal/t/{token}" if base else url_for("service_portal.status", token=token,
                                                                        _external=True)
        item = tickets.get_ticket(ctx, ticket_id)
        mail_on = bool(ctx.settings.get("SERVICE_SMTP_HOST") and base)
        response = self._page(ctx, ticket_id, new_link=link,
                              mailed_to=recipient(ctx, item, None) if mail_on else None)
        return response, 200, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


VISIT_ZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Tokyo", "Asia/Singapore", "Europe/Berlin",
               "Europe/London", "America/New_York", "America/Los_Angeles", "UTC")


def _int(value: Any) -> int | None:
    try:
        return db_id(value)  # an id an INTEGER column can hold
    except (TypeError, ValueError):
        return None


def _window(form: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The visit window from a date, two times and a time zone (``<input type=date/time>``, no JavaScript)."""
    zone = form.get("timezone") or TZ
    if zone not in VISIT_ZONES:
        raise ValidationError(gettext("The visit is not valid."), errors={"timezone": [gettext("Unknown time zone.")]})
    try:
        day = dt.date.fromisoformat(form.get("day") or "")
        start, end = (dt.time.fromisoformat(form.get(k) or "") for k in ("start", "end"))
    except ValueError:
        raise ValidationError(gettext("The visit is not valid."), errors={
            "window_start": [gettext("Give the day and the start and end times.")]}) from None
    tz = ZoneInfo(zone)
    return dt.datetime.combine(day, start, tzinfo=tz), dt.datetime.combine(day, end, tzinfo=tz)


def parse_parts(text: str) -> list[dict[str, Any]]:
    """Parts used, one per line: ``part, quantity[, note]`` (quantity 1 when left out); the service
    validates them."""
    out: list[dict[str, Any]] = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        bits = [b.strip() for b in line.replace("，", ",").split(",", 2)]
        out.append({"part": bits[0], "quantity": bits[1] if len(bits) > 1 and bits[1] else "1",
                    "note": bits[2] if len(bits) > 2 else ""})
    return out


class ScheduleView(SecureView):
    """Every technician's visits of one local day (or one technician's)."""

    permission = "service.visit.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        tz_name = request.args.get("tz") or TZ
        tz = ZoneInfo(tz_name if is_zone(tz_name) else TZ)  # a bad ?tz= ("Asia", NUL) shows the default zone
        try:
            day = dt.date.fromisoformat(request.args.get("day") or "")
        except ValueError:
            day = utcnow().astimezone(tz).date()
        start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        stmt = select(Visit).where(Visit.window_start >= start, Visit.window_start < start + dt.timedelta(days=1),
                                   Visit.state != "cancelled").order_by(Visit.technician_id, Visit.window_start)
        stmt = visit_svc.scope_visits(ctx, stmt)
        by_tech: dict[Any, list[Any]] = {}
        for v in ctx.session.scalars(stmt):
            by_tech.setdefault(v.technician, []).append(v)
        schedule = [(user_label(u), [(v, v.window_start.astimezone(tz), v.window_end.astimezone(tz)) for v in vs])
                    for u, vs in by_tech.items()]
        return self.render("admin/service/schedule.html", day=day, schedule=schedule, tz=str(tz),
                           prev=day - dt.timedelta(days=1), next=day + dt.timedelta(days=1))


class QualityReportView(SecureView):
    """Defect rates by product, CSAT and logistics KPIs for a month."""

    permission = "service.report.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        today = utcnow().date()
        month = request.args.get("month") or f"{today.year}-{today.month:02d}"
        try:
            year, mon = (int(x) for x in month.split("-"))
            start = dt.datetime(year, mon, 1, tzinfo=dt.timezone.utc)
        except ValueError:
            start = dt.datetime(today.year, today.month, 1, tzinfo=dt.timezone.utc)
        end = (start + dt.timedelta(days=32)).replace(day=1)
        users = {u.id: user_label(u) for u in ctx.session.scalars(select(User))}
        return self.render("admin/service/quality_report.html", month=f"{start.year}-{start.month:02d}",
                           rates=quality.defect_rates(ctx, start, end),
                           csat=surveys.scores(ctx, start=start, end=end, by="agent"),
                           overall=surveys.scores(ctx, start=start, end=end, by="all"),
                           nps=surveys.scores(ctx, start=start, end=end, by="all", kind="nps"),
                           logistics=logistics.kpis(ctx, start, end), users=users,
                           compliance=sla.compliance(ctx, start, end))
