"""The public referral link ``/r/<code>``: no login, rate limited per client address; it keeps the code (a
cookie, and ``?ref=`` on the page) and lands on the lead form chosen in ``SOCIAL_LANDING_FORM`` (a form key;
the first active form when unset), where the lead it makes records who referred it."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from crmcore.config import setting_int
from crmcore.i18n import _
from crmcore.services import ratelimit

bp = Blueprint("social_public", __name__)
RATE_LIMIT = 60
RATE_WINDOW = 3600
COOKIE_DAYS = 30


def _limited() -> Any:
    rt = current_app.extensions["crm"]
    verdict = ratelimit.hit(rt.db, rt.settings, "social-referral-link", request.remote_addr or "unknown",
                            limit=setting_int(rt.settings, "SOCIAL_LINK_RATE_LIMIT", RATE_LIMIT),
                            window=setting_int(rt.settings, "SOCIAL_LINK_RATE_WINDOW", RATE_WINDOW, 1))
    if verdict.allowed:
        return None
    minutes = max((verdict.retry_after + 59) // 60, 1)
    text = _("Too many requests from your network. Try again in %(minutes)s minute(s).", minutes=minutes)
    return (render_template("sales/lead_form_message.html", title=_("Please wait"), text=text), 429,
            {"Retry-After": str(verdict.retry_after)})


@bp.route("/r/<code>")
def referral_link(code: str) -> Any:
    """Follow a referral link: to the lead form, the code kept."""
    limited = _limited()
    if limited is not None:
        return limited
    from sqlalchemy import select

    from plugins.sales.webform_models import LeadForm

    from .services.codes import find_code

    rt = current_app.extensions["crm"]
    session = rt.db.new_session()
    try:
        row = find_code(rt.context(source="link", session=session), code)
        if row is None:
            abort(404)
        key = rt.settings.get("SOCIAL_LANDING_FORM") or session.scalar(
            select(LeadForm.key).where(LeadForm.active.is_(True)).order_by(LeadForm.id).limit(1))
    finally:
        session.close()
    if not key:
        abort(404)
    response = redirect(url_for("sales_webform.lead_form", key=key, ref=row.code), 302)
    response.set_cookie("crm_ref", row.code, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="Lax",
                        secure=request.is_secure)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
