"""Journeys in the admin: the list, the trigger form, the journey's page (its step diagram drawn on the server,
the steps with add/edit/remove, what keeps it from starting, per-step counts, start/pause/resume) and the step
form (templates, users and branch targets picked by name; conditions with the condition builder)."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from markupsafe import Markup
from sqlalchemy import func, select

from crmcore.admin import policy_form
from crmcore.admin.views import SecureView
from crmcore.errors import CRMError
from crmcore.i18n import gettext, local_time
from crmcore.models import User

from .. import labels_journeys as L
from ..labels import CAMPAIGN_STATES
from ..models import Campaign
from ..models_journeys import Enrolment, JourneyStep
from ..services import audiences, calendar, campaigns, journey_diagram, journey_report, journeys as svc, templates, triggers
from .builder import BuilderEndpoints, read_condition
from .common import field_errors

NTH = ((1, "1"), (2, "2"), (3, "3"), (4, "4"), (5, "5"))
BRANCH_ROWS = 5


def _int(text: str | None) -> Any:
    text = (text or "").strip()
    return int(text) if text.lstrip("-").isdigit() else (text or None)


def _text(form: Any, name: str) -> str | None:
    return (form.get(name) or "").strip() or None


def read_trigger(form: Any) -> dict[str, Any]:
    """The posted trigger form as the service's data (numbers that are not stay text, for the service to refuse)."""
    return {"trigger": form.get("trigger") or "api", "audience_id": _int(form.get("audience_id")),
            "condition": read_condition(form.get("condition")),
            "recurring": bool(form.get("recurring")), "date_field": _text(form, "date_field"),
            "offset_days": (_int(form.get("offset_days")) or 0) * (-1 if form.get("direction") == "before" else 1),
            "yearly": bool(form.get("yearly")), "calendar_rule": _text(form, "calendar_rule"),
            "month": _int(form.get("month")), "day": _int(form.get("day")), "nth": _int(form.get("nth")),
            "weekday": _int(form.get("weekday")), "calendar_name": _text(form, "calendar_name"),
            "event": _text(form, "event"), "no_order_days": _int(form.get("no_order_days"))}


def read_step(form: Any) -> dict[str, Any]:
    """The posted step form as the service's data: only the fields of the chosen kind."""
    kind = form.get("kind") or ""
    data: dict[str, Any] = {"name": (form.get("name") or "").strip(), "kind": kind}
    if kind == "send":
        data["template_id"] = _int(form.get("template_id"))
    elif kind == "wait":
        until = _text(form, "wait_until")
        data.update(wait_days=_int(form.get("wait_days")), wait_hours=_int(form.get("wait_hours")),
                    wait_until=until and (until if len(until) > 16 else f"{until}:00"))
    elif kind in ("condition", "goal"):
        data.update(condition=read_condition(form.get("condition")), behaviour=_text(form, "behaviour"))
    elif kind == "update":
        data.update(field=_text(form, "field"), value=_text(form, "value"), tag=_text(form, "tag"))
    elif kind in ("activity", "notify"):
        data["subject"] = _text(form, "subject")
        if kind == "notify":
            data["user_id"] = _int(form.get("user_id"))
    if kind == "random":
        data["branches"] = [{"label": (form.get(f"branch_label_{i}") or "").strip(),
                             "share": _int(form.get(f"branch_share_{i}")),
                             "next_step_id": _int(form.get(f"branch_next_{i}"))}
                            for i in range(BRANCH_ROWS) if (form.get(f"branch_label_{i}") or "").strip()]
    if kind != "goal":
        data["next_step_id"] = _int(form.get("next_step_id"))
    if kind == "condition":
        data["else_step_id"] = _int(form.get("else_step_id"))
    return data


def trigger_text(journey: Any, names: dict[int, str]) -> str:
    """The trigger in the reader's words (``10 days before the 2nd Sunday of May``)."""
    kind = str(L.TRIGGERS.get(journey.trigger, journey.trigger))
    when = ""
    days = abs(journey.offset_days or 0)
    offset = "" if not journey.offset_days else gettext("%(n)s days before", n=days) + " " \
        if journey.offset_days < 0 else gettext("%(n)s days after", n=days) + " "
    if journey.trigger == "calendar":
        if journey.calendar_rule == "nth_weekday":
            weekday = L.WEEKDAYS.get(journey.weekday, "")
            when = gettext("the last %(weekday)s of month %(month)s", weekday=weekday, month=journey.month) \
                if journey.nth == -1 else gettext("%(weekday)s no. %(nth)s of month %(month)s", nth=journey.nth,
                                                  weekday=weekday, month=journey.month)
        elif journey.calendar_rule == "fixed":
            when = f"{journey.month}-{journey.day}"
        else:
            when = journey.calendar_name or ""
    elif journey.trigger == "date_field":
        when = journey.date_field or ""
    elif journey.trigger == "event":
        when = str(L.EVENTS.get(journey.event or "", journey.event or ""))
    elif journey.trigger == "no_order":
        when = gettext("%(n)s days", n=journey.no_order_days)
    audience = names.get(journey.audience_id or 0)
    who = gettext("members of '%(name)s'", name=audience) if audience else gettext("every customer")
    return f"{kind}: {offset}{when} — {who}".replace(": — ", " — ")


class JourneysView(BuilderEndpoints, SecureView):
    """Journeys: list, trigger form, journey page with the diagram and steps, step form, actions."""

    permission = "marketing.read"
    write_permission = "marketing.manage"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        rows = []
        for c in ctx.session.scalars(select(Campaign).where(Campaign.kind == "journey").order_by(Campaign.id.desc())):
            states = dict(ctx.session.execute(select(Enrolment.state, func.count()).where(
                Enrolment.campaign_id == c.id).group_by(Enrolment.state)).all())
            rows.append((c, str(CAMPAIGN_STATES.get(c.status, c.status)), states.get("active", 0), sum(states.values())))
        return self.render("marketing/admin/journeys.html", rows=rows, can_manage=ctx.can("marketing.manage"))

    def _names(self, ctx: Any) -> dict[int, str]:
        return {a.id: a.name for a in audiences.list_audiences(ctx)}

    @expose("/new", methods=["GET", "POST"])
    @expose("/<int:campaign_id>/trigger", methods=["GET", "POST"])
    def trigger(self, campaign_id: int | None = None) -> Any:
        ctx = self.ctx()
        if not ctx.can("marketing.manage"):
            return self.forbidden()
        journey = None
        if campaign_id is not None:
            try:
                _campaign, journey = svc.get_journey(ctx, campaign_id)
            except CRMError as exc:
                flash(exc.message, "error")
                return redirect(url_for(".index"))
        data = {f: getattr(journey, f) for f in svc.TRIGGER_FIELDS} if journey else {"trigger": "api", "yearly": True}
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            data = read_trigger(request.form)
            try:
                if journey is None:
                    created = svc.create_journey(ctx, {**data, "name": (request.form.get("name") or "").strip()})
                    campaign_id = created.id
                else:
                    svc.update_trigger(ctx, journey.campaign_id, data)
                flash(gettext("Journey saved."), "success")
                return redirect(url_for(".details", campaign_id=campaign_id))
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")
                errors = field_errors(exc)
        return self.render("marketing/admin/journey_trigger.html", journey=journey, data=data, errors=errors,
                           name=request.form.get("name", ""), labels=L, nth=NTH, builder_text=policy_form.builder_text(),
                           condition_json=json.dumps(data.get("condition"), ensure_ascii=False)
                           if isinstance(data.get("condition"), dict) else "",
                           audiences=list(self._names(ctx).items()),
                           calendars=[(n, n) for n in sorted({d.name for d in calendar.list_dates(ctx)})],
                           date_fields=sorted(triggers.date_fields(ctx).items(), key=lambda kv: kv[1]))

    @expose("/<int:campaign_id>")
    def details(self, campaign_id: int) -> Any:
        ctx = self.ctx()
        try:
            campaign, journey = svc.get_journey(ctx, campaign_id)
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        steps = svc.steps_of(ctx, campaign_id)
        branches = svc.branches_of(ctx, [s.id for s in steps])
        report = journey_report.step_counts(ctx, campaign_id)
        now_at = {s["id"]: s["now"] for s in report["steps"]}
        diagram = Markup(journey_diagram.render_svg(campaign.name, steps, branches, L.STEP_KINDS, now_at))  # noqa: S704 - every name escaped inside
        names = {s.id: s.name for s in steps}
        return self.render("marketing/admin/journey.html", campaign=campaign, journey=journey, steps=steps,
                           branches=branches, names=names, diagram=diagram, labels=L,
                           state=str(CAMPAIGN_STATES.get(campaign.status, campaign.status)),
                           trigger=trigger_text(journey, self._names(ctx)),
                           problems=svc.graph_problems(ctx, campaign_id), report=report,
                           history=journey_report.history(ctx, campaign_id), local_time=local_time,
                           can_manage=ctx.can("marketing.manage"), can_send=ctx.can("marketing.send"))

    @expose("/<int:campaign_id>/steps/new", methods=["GET", "POST"])
    @expose("/<int:campaign_id>/steps/<int:step_id>", methods=["GET", "POST"])
    def step(self, campaign_id: int, step_id: int | None = None) -> Any:
        ctx = self.ctx()
        if not ctx.can("marketing.manage"):
            return self.forbidden()
        try:
            campaign, _journey = svc.get_journey(ctx, campaign_id)
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        step = ctx.session.get(JourneyStep, step_id) if step_id else None
        if step_id and (step is None or step.campaign_id != campaign_id):
            flash(gettext("No such step."), "error")
            return redirect(url_for(".details", campaign_id=campaign_id))
        data: dict[str, Any] = {"kind": request.args.get("kind") or "send", "name": ""}
        branch_rows: list[dict[str, Any]] = []
        if step is not None:
            data = {f: getattr(step, f) for f in svc.STEP_FIELDS}
            branch_rows = [{"label": b.label, "share": b.share, "next_step_id": b.next_step_id}
                           for b in svc.branches_of(ctx, [step.id])[step.id]]
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            data = read_step(request.form)
            branch_rows = data.get("branches") or []
            try:
                if step is None:
                    svc.add_step(ctx, campaign_id, data)
                else:
                    svc.update_step(ctx, campaign_id, step.id, data)
                flash(gettext("Step '%(name)s' saved.", name=data["name"]), "success")
                return redirect(url_for(".details", campaign_id=campaign_id))
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")
                errors = field_errors(exc)
        others = [(s.id, s.name) for s in svc.steps_of(ctx, campaign_id) if step is None or s.id != step.id]
        users = [(u.id, u.full_name or u.username)
                 for u in ctx.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username))]
        until = data.get("wait_until")
        return self.render("marketing/admin/journey_step.html", campaign=campaign, step=step, data=data,
                           errors=errors, labels=L, others=others, users=users, builder_text=policy_form.builder_text(),
                           branch_rows=(branch_rows + [{}] * BRANCH_ROWS)[:BRANCH_ROWS],
                           wait_until=until.strftime("%Y-%m-%dT%H:%M") if isinstance(until, dt.datetime) else until or "",
                           template_choices=[(t.id, t.name) for t in templates.list_templates(ctx)],
                           fields=sorted(svc.updatable_fields(ctx).items(), key=lambda kv: kv[1]),
                           condition_json=json.dumps(data.get("condition"), ensure_ascii=False)
                           if isinstance(data.get("condition"), dict) else "")

    def _act(self, campaign_id: int, permission: str, action: Any, done: str) -> Any:
        ctx = self.ctx()
        if not ctx.can(permission):
            return self.forbidden()
        try:
            action(ctx)
            flash(done, "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash(" ".join([exc.message, *(m for ms in field_errors(exc).values() for m in ms)]), "error")
        return redirect(url_for(".details", campaign_id=campaign_id))

    @expose("/<int:campaign_id>/steps/<int:step_id>/remove", methods=["POST"])
    def remove_step(self, campaign_id: int, step_id: int) -> Any:
        return self._act(campaign_id, "marketing.manage", lambda ctx: svc.remove_step(ctx, campaign_id, step_id),
                         gettext("The step was removed."))

    @expose("/<int:campaign_id>/start", methods=["POST"])
    def start(self, campaign_id: int) -> Any:
        return self._act(campaign_id, "marketing.send", lambda ctx: campaigns.start(ctx, campaign_id),
                         gettext("The journey is running: customers enter as its trigger says."))

    @expose("/<int:campaign_id>/pause", methods=["POST"])
    def pause(self, campaign_id: int) -> Any:
        return self._act(campaign_id, "marketing.send", lambda ctx: campaigns.pause(ctx, campaign_id),
                         gettext("The journey is paused: nobody moves on until it is resumed."))

    @expose("/<int:campaign_id>/resume", methods=["POST"])
    def resume(self, campaign_id: int) -> Any:
        return self._act(campaign_id, "marketing.send", lambda ctx: campaigns.resume(ctx, campaign_id),
                         gettext("The journey goes on."))

    @expose("/calendar", methods=["GET", "POST"])
    def calendar_dates(self) -> Any:
        """The configured calendars' dates (Spring Festival...) a calendar trigger can use."""
        ctx = self.ctx()
        data = {"name": request.form.get("name", ""), "date": request.form.get("date", "")}
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            if not ctx.can("marketing.manage"):
                return self.forbidden()
            try:
                calendar.add_date(ctx, {"name": data["name"].strip(), "date": data["date"].strip()})
                flash(gettext("The date was added."), "success")
                return redirect(url_for(".calendar_dates"))
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")
                errors = field_errors(exc)
        return self.render("marketing/admin/journey_calendar.html", dates=calendar.list_dates(ctx), data=data,
                           errors=errors, can_manage=ctx.can("marketing.manage"))

    @expose("/calendar/<int:date_id>/remove", methods=["POST"])
    def remove_calendar_date(self, date_id: int) -> Any:
        ctx = self.ctx()
        if not ctx.can("marketing.manage"):
            return self.forbidden()
        try:
            calendar.remove_date(ctx, date_id)
            flash(gettext("The date was removed."), "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash(exc.message, "error")
        return redirect(url_for(".calendar_dates"))
