"""Public consent pages (no login; each link signed): ``/m/p/<token>`` the customer's preference page and
``/m/confirm/<token>`` the double opt-in confirmation (a page with a button: a link scanner confirms nothing)."""
from __future__ import annotations

from typing import Any

from flask import abort, render_template, request

from crmcore.i18n import local_time
from crmcore.models import Customer

from ..labels import CHANNELS, CONSENT_SOURCES, CONSENT_STATES, PURPOSES
from ..services import languages, optin, preferences, tracking
from .public import _ctx, bp

LANGUAGE_NAMES = {"zh_CN": "简体中文", "en": "English"}  # each in its own language, as language pickers show them


@bp.route("/p/<token>", methods=["GET", "POST"])
def preference_page(token: str) -> Any:
    ctx = _ctx()
    found = tracking.read(ctx, "preferences", token)
    customer = ctx.session.get(Customer, found[0]) if found else None
    if customer is None or customer.deleted_at is not None or customer.merged_into_id is not None:
        abort(404)
    saved = False
    if request.method == "POST":
        wanted = {tuple(v.split(":", 1)) for v in request.form.getlist("consent") if ":" in v}
        preferences.change(ctx, customer.id, {(c, p) for c, p in wanted})
        if request.form.get("language") in LANGUAGE_NAMES:
            languages.set_language(ctx, customer.id, {"language": request.form["language"]})
        elif request.form.get("language") == "":
            languages.clear_language(ctx, customer.id)
        saved = True
    spoken = languages.language_of(ctx, [customer.id]).get(customer.id)
    company = str(ctx.settings.get("COMPANY_NAME") or "")
    rows = [{"key": f"{c.channel}:{c.purpose}", "channel": CHANNELS[c.channel], "purpose": PURPOSES[c.purpose],
             "granted": c.granted, "status": CONSENT_STATES.get(c.status or "", ""),
             "source": CONSENT_SOURCES.get(c.source or "", ""), "at": local_time(c.at) if c.at else "",
             "text": c.text or "", "statement": preferences.statement(c.channel, c.purpose, company)}
            for c in preferences.choices(ctx, customer.id)]
    return render_template("marketing/preferences.html", rows=rows, token=token, saved=saved, name=customer.name,
                           languages=LANGUAGE_NAMES, spoken=spoken)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Any:
    ctx = _ctx()
    state, consent_id = optin.read_token(ctx, token)
    if state == "expired":
        return render_template("marketing/confirm.html", state="expired", token=token), 410
    if state != "ok" or consent_id is None:
        abort(404)
    pending = optin.pending(ctx, consent_id)
    if request.method == "GET" and pending is not None:
        return render_template("marketing/confirm.html", state="ask", token=token, text=pending.text)
    grant = optin.confirm(ctx, consent_id)  # writes only while the grant is pending: a GET after it reads
    return render_template("marketing/confirm.html", state="done" if grant else "gone", token=token)
