"""The invitee's answer page (no login; the signed token in the address is the proof): ``/events/r/<token>``
shows the event, takes yes, no or maybe until it starts (or a scan of the invitation's WeChat QR code), and shows the guest's check-in QR code after a yes.
A forged or changed token is a plain 404."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from markupsafe import Markup

from crmcore.errors import ValidationError
from crmcore.services.validation import messages_text

from ..labels import RESPONSE_WORDS
from ..services import invitations, wechat_rsvp
from ..services.events import local_start

bp = Blueprint("member_events_public", __name__, url_prefix="/events")


def _ctx() -> Any:
    rt = current_app.extensions["crm"]
    return rt.context(source="member-events-rsvp", session=rt.db.session())


@bp.after_request
def _private(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/r/<token>", methods=["GET", "POST"])
def rsvp(token: str) -> Any:
    ctx = _ctx()
    invitation = invitations.read_token(ctx, "rsvp", token)
    if invitation is None:
        abort(404)
    error, status = None, 200
    if request.method == "POST":
        try:
            invitation = invitations.answer(ctx, token, {"response": request.form.get("response", "")})
        except ValidationError as exc:
            ctx.session.rollback()
            error, status = "; ".join(m for v in messages_text(exc.errors).values() for m in v), 422
    event = invitation.event
    qr = None
    if invitation.response == "yes" and not event.cancelled:  # segno's SVG of an address we made: no outside text
        qr = Markup(invitations.qr_svg(invitations.checkin_url(ctx, invitation)))  # noqa: S704
    wechat_qr = None
    if invitation.response != "yes":  # the invitation's WeChat QR code: scanned, it says "coming" in WeChat
        url = wechat_rsvp.qrcode_url(ctx, invitation)
        wechat_qr = Markup(invitations.qr_svg(url)) if url else None  # noqa: S704 - segno's SVG of WeChat's address
    return render_template("member_events/rsvp.html", event=event, invitation=invitation, token=token,
                           starts=local_start(event), closed=invitations.closed_reason(event), error=error,
                           words=RESPONSE_WORDS, qr=qr, wechat_qr=wechat_qr), status
