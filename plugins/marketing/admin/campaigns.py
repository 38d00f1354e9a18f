"""Campaigns in the admin: list with states in words, a draft form (audience and template by name), the detail
page (readiness, a test to yourself, start with a confirmation, pause, resume), the report with server-drawn
charts and the recipients as CSV."""
from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, flash, redirect, request, stream_with_context, url_for
from flask_admin import expose
from sqlalchemy import select

from crmcore.admin.views import SecureView
from crmcore.errors import CRMError
from crmcore.i18n import gettext, local_time
from crmcore.models import Customer
from crmcore.services.exporter import safe_cell
from plugins.sales.admin.charts import bar_chart

from ..labels import CAMPAIGN_STATES, FUNNEL, READINESS, RECIPIENT_STATES
from ..models import Audience, MarketingEvent, MessageTemplate, Recipient
from ..services import audiences, campaigns as svc, results, rules, templates
from .common import field_errors

FUNNEL_STEPS = ("audience", "sent", "opened", "clicked", "unsubscribed")


def _int(text: str | None) -> Any:
    text = (text or "").strip()
    return int(text) if text.lstrip("-").isdigit() else (text or None)


def read_form(form: Any) -> dict[str, Any]:
    """The posted draft form as the service's data (numbers stay text when they are not, for the service to refuse)."""
    return {"name": (form.get("name") or "").strip(), "audience_id": _int(form.get("audience_id")),
            "template_id": _int(form.get("template_id")), "holdout_percent": _int(form.get("holdout_percent")) or 0}


def lift_note(conversions: dict[str, Any], funnel: dict[str, int]) -> str | None:
    """Why no interval is given, in the reader's words (the report's own note; None when there is one)."""
    return None if conversions.get("interval") is not None else conversions.get("note")


def points(value: float | None) -> str:
    """A difference of two rates, in percentage points (not a percent of anything)."""
    return "—" if value is None else gettext("%(n)s points", n=f"{value * 100:+.1f}")


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


class CampaignsView(SecureView):
    """Campaigns: list, draft form, detail with readiness and actions, report, CSV."""

    permission = "marketing.read"
    write_permission = "marketing.manage"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        rows = [(c, str(CAMPAIGN_STATES.get(c.status, c.status)), svc.counts(ctx, c.id)) for c in svc.list_campaigns(ctx)]
        return self.render("marketing/admin/campaigns.html", rows=rows, can_manage=ctx.can("marketing.manage"))

    @expose("/new", methods=["GET", "POST"])
    @expose("/<int:campaign_id>/edit", methods=["GET", "POST"])
    def edit(self, campaign_id: int | None = None) -> Any:
        ctx = self.ctx()
        if not ctx.can("marketing.manage"):
            return self.forbidden()
        try:
            campaign = svc.get_campaign(ctx, campaign_id) if campaign_id else None
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        if campaign is not None and campaign.status not in svc.EDITABLE_STATES:
            flash(gettext("A campaign that has started cannot be changed."), "error")
            return redirect(url_for(".details", campaign_id=campaign.id))
        data: dict[str, Any] = {"name": campaign.name, "audience_id": campaign.audience_id,
                                "template_id": campaign.template_id, "holdout_percent": campaign.holdout_percent} \
            if campaign else {"name": "", "holdout_percent": 10}
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            data = read_form(request.form)
            try:
                campaign = svc.create_campaign(ctx, data) if campaign is None else \
                    svc.update_campaign(ctx, campaign.id, data)
                flash(gettext("Campaign '%(name)s' saved.", name=campaign.name), "success")
                return redirect(url_for(".details", campaign_id=campaign.id))
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")
                errors = field_errors(exc)
        return self.render("marketing/admin/campaign_form.html", campaign=campaign, data=data, errors=errors,
                           audiences=[(a.id, a.name) for a in audiences.list_audiences(ctx)],
                           templates=[(t.id, t.name) for t in templates.list_templates(ctx)])

    @expose("/<int:campaign_id>")
    def details(self, campaign_id: int) -> Any:
        ctx = self.ctx()
        try:
            campaign = svc.get_campaign(ctx, campaign_id)
            if campaign.kind == "journey":  # a journey has its own page (steps and diagram)
                return redirect(url_for("marketing_journeys.details", campaign_id=campaign.id))
            report = results.report(ctx, campaign.id)
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        ready = svc.readiness(ctx, campaign) if campaign.status in svc.EDITABLE_STATES else None
        audience = ctx.session.get(Audience, campaign.audience_id) if campaign.audience_id else None
        template = ctx.session.get(MessageTemplate, campaign.template_id) if campaign.template_id else None
        funnel = report["funnel"]
        chart = bar_chart([str(FUNNEL[k]) for k in FUNNEL_STEPS], [(gettext("Customers"), [funnel[k] for k in FUNNEL_STEPS])],
                          title=gettext("Funnel"))
        conv = report["conversions"]
        conv_chart = note = None
        if conv is not None:
            conv_chart = bar_chart([gettext("Sent"), str(FUNNEL["held_out"])],
                                   [(gettext("Conversion rate"), [100 * (conv["rate_sent"] or 0),
                                                                   100 * (conv["rate_control"] or 0)])],
                                   title=gettext("Conversion rate"), unit="%")
            note = lift_note(conv, funnel)
        return self.render("marketing/admin/campaign.html", campaign=campaign, state=CAMPAIGN_STATES.get(campaign.status),
                           audience=audience, tpl=template, ready=ready, readiness_labels=READINESS,
                           funnel=funnel, funnel_labels=FUNNEL, chart=chart, conv=conv, conv_chart=conv_chart,
                           attribution=report.get("attribution"),
                           note=note, percent=percent, points=points, can_manage=ctx.can("marketing.manage"),
                           can_send=ctx.can("marketing.send"))

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

    @expose("/<int:campaign_id>/test", methods=["POST"])
    def send_test(self, campaign_id: int) -> Any:
        sent_to: list[str] = []
        result = self._act(campaign_id, "marketing.manage",
                           lambda ctx: sent_to.append(svc.send_test(ctx, campaign_id)), "")
        if sent_to:
            flash(gettext("A test message was sent to %(address)s.", address=sent_to[0]), "success")
        return result

    @expose("/<int:campaign_id>/start", methods=["POST"])
    def start(self, campaign_id: int) -> Any:
        if not request.form.get("confirm"):
            if not self.ctx().can("marketing.send"):
                return self.forbidden()
            flash(gettext("Tick the box to confirm the send."), "error")
            return redirect(url_for(".details", campaign_id=campaign_id))
        return self._act(campaign_id, "marketing.send", lambda ctx: svc.start(ctx, campaign_id),
                         gettext("The campaign is being sent."))

    @expose("/<int:campaign_id>/pause", methods=["POST"])
    def pause(self, campaign_id: int) -> Any:
        return self._act(campaign_id, "marketing.send", lambda ctx: svc.pause(ctx, campaign_id),
                         gettext("The campaign is paused after the current batch."))

    @expose("/<int:campaign_id>/resume", methods=["POST"])
    def resume(self, campaign_id: int) -> Any:
        return self._act(campaign_id, "marketing.send", lambda ctx: svc.resume(ctx, campaign_id),
                         gettext("The campaign goes on."))

    @expose("/<int:campaign_id>/recipients.csv")
    def recipients_csv(self, campaign_id: int) -> Any:
        """The campaign's recipients: customer name, status in words, sent time in the reader's zone, opened, clicked."""
        ctx = self.ctx()
        try:
            campaign = svc.get_campaign(ctx, campaign_id)
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        kinds: dict[int, set[str]] = {}
        for rid, kind in ctx.session.execute(select(MarketingEvent.recipient_id, MarketingEvent.kind).where(
                MarketingEvent.campaign_id == campaign.id, MarketingEvent.kind.in_(("opened", "clicked")))):
            kinds.setdefault(rid, set()).add(kind)
        yes, no = gettext("Yes"), gettext("No")
        header = [gettext("Customer"), gettext("Status"), gettext("Sent at"), gettext("Opened the message"), gettext("Clicked")]
        stmt = rules.scope_recipients(ctx, select(Recipient.id, Recipient.status, Recipient.sent_at, Customer.name)
                                      .join(Customer, Customer.id == Recipient.customer_id)
                                      .where(Recipient.campaign_id == campaign.id).order_by(Recipient.id))

        def lines() -> Any:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(header)
            yield "\ufeff" + out.getvalue()
            for rid, status, sent_at, name in ctx.session.execute(stmt).yield_per(1000):
                out.seek(0)
                out.truncate()
                seen = kinds.get(rid, set())
                writer.writerow([safe_cell(name), str(RECIPIENT_STATES.get(status, status)), local_time(sent_at),
                                 yes if "opened" in seen else no, yes if "clicked" in seen else no])
                yield out.getvalue()

        return Response(stream_with_context(lines()), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign.id}-recipients.csv"'})
