"""Public tracking pages (no login; each token signed): ``/m/o/<token>.gif`` the open pixel, ``/m/c/<token>`` a
click (redirects only to the link the message carried), ``/m/u/<token>`` the unsubscribe page and its
RFC 8058 one-click POST. A forged or changed token is a plain 404; repeats change nothing."""
from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request

from crmcore.i18n import _
from crmcore.services import interactions

from ..services import consent, tracking

bp = Blueprint("marketing_public", __name__, url_prefix="/m")
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _ctx() -> Any:
    rt = current_app.extensions["crm"]
    return rt.context(source="marketing-tracking", session=rt.db.session())


@bp.after_request
def _private(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/o/<token>.gif")
def opened(token: str) -> Any:
    ctx = _ctx()
    found = tracking.read(ctx, "open", token)
    if found is not None:
        tracking.record_event(ctx, found[0], "opened")
    return PIXEL, 200, {"Content-Type": "image/gif"}  # the same answer for any token: it reveals nothing


@bp.route("/c/<token>")
def clicked(token: str) -> Any:
    ctx = _ctx()
    found = tracking.read(ctx, "click", token)
    if found is None or not found[1] or not found[1].startswith(("https://", "http://")):
        abort(404)
    recipient_id, url = found
    tracking.record_event(ctx, recipient_id, "clicked", url)
    return redirect(str(url), 302)


@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    ctx = _ctx()
    found = tracking.read(ctx, "unsubscribe", token)
    recipient = tracking.recipient_of(ctx, found[0]) if found else None
    if recipient is None:
        abort(404)
    if request.method == "GET":  # a page with a button: mail scanners that fetch links unsubscribe nobody
        return render_template("marketing/unsubscribe.html", done=False, token=token)
    from ..models import Campaign

    campaign = ctx.session.get(Campaign, recipient.campaign_id)
    channel = campaign.channel if campaign else "email"
    if recipient.address:
        consent.suppress(ctx, channel, recipient.address, "unsubscribed", recipient.customer_id)
    if consent.latest_status(ctx, recipient.customer_id, channel) != "withdrawn":
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        consent.record(ctx, recipient.customer_id, {
            "channel": channel, "purpose": "marketing", "status": "withdrawn",
            "source": "unsubscribe", "text": "one-click unsubscribe (RFC 8058)" if one_click else "unsubscribe page"})
        if tracking.record_event(ctx, recipient.id, "unsubscribed") is not None:
            interactions.log_interaction(ctx, recipient.customer_id, {
                "channel": "email" if channel == "email" else "other", "direction": "inbound",
                "subject": str(_("Unsubscribed from marketing: %(campaign)s",
                                 campaign=campaign.name if campaign else ""))[:255]})
    return render_template("marketing/unsubscribe.html", done=True, token=token)
