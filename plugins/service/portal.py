"""The public self-service pages (Flask-rendered, no JavaScript, CSRF-protected forms):
submit a request, follow it with the status link only its customer holds, reply, answer surveys.

Not under /api (no token): the pages act as the system on one ticket found by its link token.
Any token that does not open a ticket (tampered, expired, replaced, someone else's) is the same
plain 404, so a page never tells whether a ticket exists. Submitting and replying are rate-limited
per client address (``services.ratelimit``): over the limit, a translated 429 page.

A request's e-mail address is unproven until its owner opens the confirmation link mailed to it
(``/portal/confirm/<token>``, a page with a button: mail scanners that fetch links confirm nothing).
Until then the status page shows only what the requester sent, and the request has no customer.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from crmcore.errors import NotFound, ValidationError
from crmcore.i18n import gettext
from crmcore.runtime import ServiceContext

from .models import Survey
from .services import portal as svc
from .services import ratelimit, surveys
from .services.states import states
from .services.tickets import customer_message

bp = Blueprint("service_portal", __name__, url_prefix="/service", template_folder="templates")
MAX_REPLY = 20_000


@bp.after_request
def _private(response: Any) -> Any:
    """Status and survey pages carry a secret in their URL: never cached, never sent as a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _ctx() -> Any:
    rt = current_app.extensions["crm"]
    return rt.context(source="portal", session=rt.db.session())


def _limited(action: str) -> Any:
    """None when this client may still ``action``, else the 429 page (with ``Retry-After``)."""
    rt = current_app.extensions["crm"]
    verdict = ratelimit.hit(rt.db, rt.settings, action, request.remote_addr or "unknown")
    if verdict.allowed:
        return None
    minutes = max((verdict.retry_after + 59) // 60, 1)
    return render_template("service/portal_limited.html", minutes=minutes), 429, {
        "Retry-After": str(verdict.retry_after)}


def _locale() -> str | None:
    """The language the page was shown in (``zh_CN`` or ``en``)."""
    from flask_babel import get_locale

    current = str(get_locale() or "")
    return "zh_CN" if current.startswith("zh") else "en" if current.startswith("en") else None


def _ticket(ctx: ServiceContext, token: str) -> Any:
    try:
        return svc.ticket_for_token(ctx, token)
    except NotFound:
        abort(404)


@bp.route("/portal/new", methods=["GET", "POST"])
def new_request() -> Any:
    values: dict[str, str] = {}
    errors: dict[str, Any] = {}
    message = None
    if request.method == "POST":
        limited = _limited("submit")
        if limited is not None:
            return limited
        values = {k: (request.form.get(k) or "").strip() for k in ("name", "email", "phone", "wechat", "subject",
                                                                    "description", "order_number", "channel")}
        if request.form.get("website_url"):  # a bot filled the hidden field: pretend all went well
            return render_template("service/portal_submitted.html", number=None, link=None)
        ctx = _ctx()
        try:
            ticket, token = svc.submit_request(ctx, values, locale=_locale())
        except ValidationError as exc:
            errors, message = exc.errors, exc.message
        else:
            link = url_for(".status", token=token, _external=True)
            return render_template("service/portal_submitted.html", number=ticket.number, link=link), 201
    else:  # a channel's menu links here with ?channel=wechat: the ticket says where it came from
        values["channel"] = (request.args.get("channel") or "").strip()
    status = 422 if errors else 200
    return render_template("service/portal_new.html", values=values, errors=errors, message=message), status


@bp.route("/portal/t/<token>")
def status(token: str) -> Any:
    ctx = _ctx()
    ticket = _ticket(ctx, token)
    if svc.awaiting_confirmation(ticket):  # an unproven address: only what the requester sent
        own = [m for m in ticket.messages if not m.internal and m.author == "customer"]
        return render_template("service/portal_status.html", ticket=ticket, token=token, messages=own,
                               unconfirmed=True, sent=request.args.get("sent") == "1", state_name=None,
                               can_reply=ticket.state != "closed", survey_url=None)
    names = {k: gettext(s.name) for k, s in states(ctx).items()}
    public = [m for m in ticket.messages if not m.internal]
    survey = ctx.session.scalar(select(Survey).where(Survey.ticket_id == ticket.id, Survey.answered_at.is_(None)))
    survey_url = url_for(".survey", token=surveys.token_for(ctx, survey)) if survey is not None else None
    return render_template("service/portal_status.html", ticket=ticket, token=token, messages=public,
                           state_name=names.get(ticket.state, ticket.state), can_reply=ticket.state != "closed",
                           survey_url=survey_url, unconfirmed=False, sent=False)


@bp.route("/portal/t/<token>/reply", methods=["POST"])
def reply(token: str) -> Any:
    limited = _limited("reply")
    if limited is not None:
        return limited
    ctx = _ctx()
    ticket = _ticket(ctx, token)
    body = (request.form.get("body") or "").strip()[:MAX_REPLY]
    if ticket.state == "closed" or not body:
        return redirect(url_for(".status", token=token))
    customer_message(ctx, ticket, {"body": body, "channel": "web", "from_name": ticket.requester_name,
                                   "from_email": ticket.requester_email})
    return redirect(url_for(".status", token=token))


@bp.route("/portal/t/<token>/confirm", methods=["POST"])
def resend_confirmation(token: str) -> Any:
    """Mail the confirmation link again (the earlier one stops working); rate-limited."""
    limited = _limited("confirm")
    if limited is not None:
        return limited
    ctx = _ctx()
    ticket = _ticket(ctx, token)
    svc.resend_confirmation(ctx, ticket)
    return redirect(url_for(".status", token=token, sent=1))


@bp.route("/portal/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Any:
    """GET: a page with a button (validating the link, using nothing); POST: confirm the address, then
    on to the request's new status page. Forged, expired, used and replaced links: the same 404 page."""
    ctx = _ctx()
    try:
        ticket = svc.ticket_for_confirmation(ctx, token)
        if request.method == "GET":
            return render_template("service/portal_confirm.html", ticket=ticket, token=token)
        status_token = svc.confirm_email(ctx, token)[1]
    except NotFound:
        ctx.session.rollback()
        return render_template("service/portal_confirm_invalid.html"), 404
    return redirect(url_for(".status", token=status_token), 303)


@bp.route("/survey/<token>", methods=["GET", "POST"])
def survey(token: str) -> Any:
    ctx = _ctx()
    try:
        item = surveys.survey_by_token(ctx, token)
    except NotFound:
        abort(404)
    low, high = surveys.SCALES[item.kind]
    error = None
    if request.method == "POST" and item.answered_at is None:
        try:
            surveys.answer(ctx, token, request.form.get("score"), request.form.get("comment"))
        except ValidationError as exc:  # the sentence and each field's words, as every other path gives them
            error = " ".join(dict.fromkeys([str(exc.message), *(str(m) for ms in exc.errors.values() for m in ms)]))
        else:
            return redirect(url_for(".survey", token=token))
    return render_template("service/survey.html", survey=item, scale=list(range(low, high + 1)), error=error), \
        422 if error else 200
