"""The member events' admin pages: an event's form (times on the clocks of its zone, the audience picked by
name), its invitations with answers in words, and the check-in page a QR code opens on a staff phone."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual, IntEqualFilter
from markupsafe import Markup
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from crmcore.admin.forms import blank_to_none
from crmcore.admin.views import (AdminForm, SecureModelView, SecureView, flash_crm_error, service_context,
                                 with_options)
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l, local_time
from crmcore.runtime import ServiceContext

from ..labels import RESPONSE_WORDS
from ..models import RESPONSES, Invitation, MemberEvent
from ..services import events, invitations, wechat_rsvp


def _audience_choices() -> list[tuple[str, str]]:
    from plugins.marketing.models import Audience

    ctx = service_context()
    return [("", gettext("No audience"))] + [(str(a.id), a.name) for a in ctx.session.scalars(
        select(Audience).order_by(Audience.name))]


class EventForm(AdminForm):
    name = StringField(_l("Name"), render_kw={"required": True})
    description = TextAreaField(_l("Description"))
    starts_at = StringField(_l("Starts"), render_kw={"type": "datetime-local", "required": True})
    ends_at = StringField(_l("Ends"), render_kw={"type": "datetime-local"})
    timezone = StringField(_l("Time zone"), default="Asia/Shanghai", description="Asia/Shanghai")
    place = StringField(_l("Place"), render_kw={"required": True})
    capacity = IntegerField(_l("Places (empty: no limit)"), validators=[Optional()])
    audience_id = SelectField(_l("Audience to invite"), choices=[], validate_choice=False)
    cancelled = BooleanField(_l("Cancelled"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.audience_id.choices = _audience_choices()


def _when(view: Any, context: Any, model: MemberEvent, name: str) -> str:
    value = getattr(model, name)
    if value is None:
        return ""
    local = value.astimezone(events.local_start(model).tzinfo)
    return f"{local:%Y-%m-%d %H:%M}"


def _answers(view: Any, context: Any, model: MemberEvent, name: str) -> Markup:
    found = events.counts(service_context(), [model.id])[model.id]
    parts = [f"{RESPONSE_WORDS[k]} {found['answers'][k]}" for k in RESPONSES]
    parts.append(f"{gettext('Checked in')} {found['checked_in']}")
    link = url_for("member_event_invitation.index_view", flt0_0=model.id)
    return Markup('<a href="{}">{}</a>').format(link, " · ".join(parts))


def _wechat_qr(view: Any, context: Any, model: MemberEvent, name: str) -> Markup:
    url = wechat_rsvp.qrcode_url(service_context(), model)
    if not url:
        return Markup("<p>{}</p>").format(gettext("No WeChat QR code: it needs a WeChat Official Account with its "
                                                  "AppSecret under Channels, and an event open to answers."))
    # segno's SVG of the address WeChat gave: no outside text in the markup
    return Markup('<div class="event-wechat-qr">{}</div><p>{}</p>').format(
        Markup(invitations.qr_svg(url)),  # noqa: S704
        gettext("Invited WeChat followers scan it to say they are coming; they get an answer in WeChat."))


class MemberEventView(SecureModelView):
    permission = "member_events.read"
    write_permission = "member_events.manage"
    form = EventForm
    can_view_details = True
    column_list = ("name", "starts_at", "place", "capacity", "answers")
    column_details_list = ("name", "description", "starts_at", "ends_at", "timezone", "place", "capacity", "audience",
                           "cancelled", "answers", "wechat_qr")
    column_labels = {"name": _l("Name"), "description": _l("Description"), "starts_at": _l("Starts"),
                     "ends_at": _l("Ends"), "timezone": _l("Time zone"), "place": _l("Place"),
                     "capacity": _l("Places"), "audience": _l("Audience to invite"), "cancelled": _l("Cancelled"),
                     "answers": _l("Answers"), "wechat_qr": _l("RSVP by WeChat")}
    column_formatters = {"starts_at": _when, "ends_at": _when, "answers": _answers, "wechat_qr": _wechat_qr,
                         "audience": lambda v, c, m, n: m.audience.name if m.audience else ""}
    column_default_sort = ("starts_at", True)
    column_searchable_list = ("name",)

    def on_form_prefill(self, form: Any, id: Any) -> None:
        model = self.get_one(id)
        if model is not None:
            form.starts_at.data = f"{events.local_start(model):%Y-%m-%dT%H:%M}"
            form.ends_at.data = _when(None, None, model, "ends_at").replace(" ", "T")
            form.audience_id.data = str(model.audience_id or "")

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = {k: blank_to_none(form[k].data) for k in ("name", "description", "starts_at", "ends_at", "timezone",
                                                          "place", "capacity")}
        if data["timezone"] is None:
            data.pop("timezone")
        audience = form.audience_id.data
        data["audience_id"] = int(audience) if audience and str(audience).isdigit() else None
        data["cancelled"] = bool(form.cancelled.data)
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> MemberEvent:
        return events.save_event(ctx, data)

    def service_update(self, ctx: ServiceContext, model: MemberEvent, data: dict[str, Any]) -> MemberEvent:
        return events.save_event(ctx, data, model.id)

    @action("invite", _l("Invite the audience"), _l("Invite every member of the events' audiences?"))
    def action_invite(self, ids: list[str]) -> None:
        ctx = self.ctx()
        for raw in ids:
            try:
                done = invitations.invite(ctx, int(raw), {})
                flash(gettext("%(n)s invited (%(known)s were invited already).", n=done["invited"],
                              known=done["already"]), "success")
            except CRMError as exc:
                ctx.session.rollback()
                flash_crm_error(exc)


def _event_options() -> list[tuple[str, str]]:
    ctx = service_context()
    return [(str(e.id), e.name) for e in ctx.session.scalars(select(MemberEvent).order_by(MemberEvent.starts_at.desc())
                                                           .limit(200))]


class InvitationView(SecureModelView):
    permission = "member_events.read"
    can_view_details = False
    column_list = ("event", "customer", "response", "responded_at", "checked_in_at")
    column_labels = {"event": _l("Event"), "customer": _l("Customer"), "response": _l("Answer"),
                     "responded_at": _l("Answered"), "checked_in_at": _l("Checked in")}
    column_formatters = {"event": lambda v, c, m, n: m.event.name,
                         "customer": lambda v, c, m, n: m.customer.name if m.customer else "",
                         "response": lambda v, c, m, n: str(RESPONSE_WORDS.get(m.response, m.response)),
                         "responded_at": lambda v, c, m, n: local_time(m.responded_at),
                         "checked_in_at": lambda v, c, m, n: local_time(m.checked_in_at)}
    column_default_sort = ("id", True)
    column_filters = (with_options(IntEqualFilter(Invitation.event_id, _l("Event")), _event_options),
                      FilterEqual(Invitation.response, _l("Answer"), options=list(RESPONSE_WORDS.items())))


class CheckInView(SecureView):
    """Scan a guest's QR code (its address opens this page with the token) or type what a scanner reads, then
    check them in: the guest's name and answer are shown before the button."""

    permission = "member_events.checkin"

    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        ctx = self.ctx()
        if request.method == "POST":
            try:
                invitation, new = invitations.check_in(ctx, {"token": request.form.get("token", "")})
                name = invitation.customer.name if invitation.customer else ""
                if new:
                    flash(gettext("%(name)s is checked in at %(event)s.", name=name, event=invitation.event.name),
                          "success")
                else:
                    flash(gettext("%(name)s was checked in already.", name=name), "warning")
            except CRMError as exc:
                ctx.session.rollback()
                flash_crm_error(exc)
            return redirect(url_for(".index"))
        text = request.args.get("token", "")
        guest = invitations.read_token(ctx, "checkin", invitations.token_of(text)) if text else None
        return self.render("admin/member_events/checkin.html", token=text, guest=guest,
                           words=RESPONSE_WORDS, starts=events.local_start(guest.event) if guest else None)
