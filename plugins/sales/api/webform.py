"""The public lead forms: the pages of the forms set up in the admin (``/sales/forms/<key>``: the form,
a plain HTML post, the thank-you page) and the older endpoint POST /sales/forms/lead for sites that post
their own form.

A form set up in the admin is on while it is active; it asks the fields the admin ticked, its consent
box must be ticked when it has a consent text, and a visitor who posts it sees the form again with every
field to correct marked, or the thank-you page (JSON to a caller that sends or accepts JSON).

Not under /api (no API token): a form key from the ``SALES_WEB_FORM_KEYS`` setting (a list, or
comma-separated) identifies the form; without configured keys the endpoint is off (404). A
filled honeypot field ``website_url`` is accepted silently and dropped. The lead is created as
the system with source channel ``web``; the answer reveals nothing about existing records.

Every POST counts against its client address (the core's database-backed rate limit, shared by
all workers): over ``SALES_WEB_FORM_RATE_LIMIT`` posts (default 10; 0 turns it off) per
``SALES_WEB_FORM_RATE_WINDOW`` seconds (default 3600) the answer is 429 with ``Retry-After``.
"""
from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for

from crmcore.config import setting_int
from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.services import ratelimit

from ..services import lead_forms
from ..services.leads import create_lead
from ..webform_models import FORM_FIELDS

bp = Blueprint("sales_webform", __name__, url_prefix="/sales/forms")
FIELDS = ("name", "company", "contact_name", "title", "phone", "email", "wechat", "campaign", "message")
MAX_FIELD = 2000
RATE_LIMIT = 10
RATE_WINDOW = 3600


def _keys() -> list[str]:
    raw = current_app.extensions["crm"].settings.get("SALES_WEB_FORM_KEYS") or []
    if isinstance(raw, str):
        raw = raw.split(",")
    return [k.strip() for k in raw if k and k.strip()]


def _limited(html: bool = False) -> Any:
    """None while this client may post, else the 429 answer saying how long to wait."""
    rt = current_app.extensions["crm"]
    verdict = ratelimit.hit(rt.db, rt.settings, "sales-web-form", request.remote_addr or "unknown",
                            limit=setting_int(rt.settings, "SALES_WEB_FORM_RATE_LIMIT", RATE_LIMIT),
                            window=setting_int(rt.settings, "SALES_WEB_FORM_RATE_WINDOW", RATE_WINDOW, 1))
    if verdict.allowed:
        return None
    minutes = max((verdict.retry_after + 59) // 60, 1)
    message = _("Too many requests from your network. Try again in %(minutes)s minute(s).", minutes=minutes)
    if html:
        return render_template("sales/lead_form_message.html", title=_("Please wait"), text=message), 429, {
            "Retry-After": str(verdict.retry_after)}
    return jsonify({"status": "error", "message": str(message)}), 429, {"Retry-After": str(verdict.retry_after)}


@bp.route("/lead", methods=["POST"])
def web_lead() -> Any:
    keys = _keys()
    if not keys:
        abort(404)
    limited = _limited()
    if limited is not None:
        return limited
    payload = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(payload, dict):
        return jsonify({"status": "error", "message": str(_("Send a form or a JSON object."))}), 400
    key = str(payload.get("form_key") or request.headers.get("X-Form-Key") or "")
    if not any(hmac.compare_digest(key, k) for k in keys):
        return jsonify({"status": "error", "message": str(_("Unknown form."))}), 403
    if payload.get("website_url"):
        return jsonify({"status": "ok"}), 201  # a bot filled the hidden field
    data = {k: str(payload[k])[:MAX_FIELD] for k in FIELDS if payload.get(k) not in (None, "")}
    rt = current_app.extensions["crm"]
    ctx = rt.context(source="web-form", session=rt.db.new_session())
    try:
        create_lead(ctx, data, source_channel="web")
    except ValidationError as exc:
        return jsonify({"status": "error", "message": exc.message, "errors": exc.errors}), 422
    finally:
        ctx.session.close()
    return jsonify({"status": "ok"}), 201


# ---- the forms set up in the admin ----------------------------------------------------------------

def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _public_form(key: str) -> Any:
    rt = current_app.extensions["crm"]
    ctx = rt.context(source="web-form", session=rt.db.session())
    form = lead_forms.public_form(ctx, key)
    if form is None:
        abort(404)
    return ctx, form


def _page(form: Any, values: dict[str, str], errors: dict[str, Any], message: Any, status: int) -> Any:
    labels = {"name": _("Your name"), "company": _("Company"), "title": _("Job title"), "phone": _("Phone"),
              "email": _("E-mail"), "wechat": _("WeChat"), "message": _("Message")}
    asked = [{"field": "name", "required": True}] + [f for f in form.asked or [] if f.get("field") in FORM_FIELDS]
    return render_template("sales/lead_form.html", form=form, asked=asked, labels=labels, values=values,
                           errors=errors, message=message), status


@bp.route("/<key>", methods=["GET", "POST"])
def lead_form(key: str) -> Any:
    """The form's page; its post becomes a lead, then the thank-you page."""
    ctx, form = _public_form(key)
    if request.method == "GET":
        return _page(form, {}, {}, None, 200)
    limited = _limited(html=not _wants_json())
    if limited is not None:
        return limited
    payload = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(payload, dict):
        return jsonify({"status": "error", "message": str(_("Send a form or a JSON object."))}), 400
    values = {k: str(payload.get(k) or "")[:MAX_FIELD] for k in ("name", *FORM_FIELDS)}
    values["consent"] = "1" if payload.get("consent") not in (None, "", "0", False, "false") else ""
    values["referral_code"] = str(payload.get("ref") or request.cookies.get("crm_ref") or "")[:64]
    thanks = url_for(".lead_form_thanks", key=key)
    if payload.get("website_url"):  # a bot filled the hidden field: it sees what a person would
        return (jsonify({"status": "ok"}), 201) if _wants_json() else redirect(thanks, 303)
    try:
        lead_forms.submit(ctx, form, values)
    except ValidationError as exc:
        ctx.session.rollback()
        if _wants_json():
            return jsonify({"status": "error", "message": exc.message, "errors": exc.errors}), 422
        return _page(form, values, exc.errors, exc.message, 422)
    return (jsonify({"status": "ok"}), 201) if _wants_json() else redirect(thanks, 303)


@bp.route("/<key>/thanks")
def lead_form_thanks(key: str) -> Any:
    _ctx, form = _public_form(key)
    title = form.thank_you_title or _("Thank you")
    text = form.thank_you_text or _("We have received your details and will contact you soon.")
    return render_template("sales/lead_form_message.html", title=title, text=text, form=form)
