"""Invitations of a member event: invitees from a marketing audience (or picked), their answers through a
signed link (no login; yes, no or maybe, the capacity kept, changeable until the event starts), their
check-in by the signed token of their QR code, attendance on the timeline and ``member_event.attended``."""
from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from crmcore.db import utcnow
from crmcore.errors import Conflict, NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services import interactions
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load

from ..models import Invitation, MemberEvent
from ..schemas import AnswerSchema, CheckInSchema, InviteSchema
from .events import get_event, local_start

SALTS = {"rsvp": "crm-member-events-rsvp", "checkin": "crm-member-events-checkin"}
CHECKIN_OPENS = dt.timedelta(hours=12)  # before the start: guests arriving early, staff testing the scanners
ATTENDED = "member_event.attended"  # the core event a journey can follow up on (docs/member_events.md)
_INVITE, _ANSWER, _CHECKIN = InviteSchema(), AnswerSchema(), CheckInSchema()


def _serializer(ctx: ServiceContext, kind: str) -> URLSafeSerializer:
    from crmcore.config import secret_key

    return URLSafeSerializer(secret_key(ctx.settings), salt=SALTS[kind])


def token(ctx: ServiceContext, kind: str, invitation_id: int) -> str:
    """The signed token of an invitation: ``rsvp`` for its answer page, ``checkin`` for its QR code."""
    return str(_serializer(ctx, kind).dumps(invitation_id))


def read_token(ctx: ServiceContext, kind: str, value: Any) -> Invitation | None:
    """The invitation of a valid token of ``kind`` (the other kind's, a forged or changed one: None)."""
    if not isinstance(value, str) or len(value) > 500:
        return None
    try:
        invitation_id = _serializer(ctx, kind).loads(value)
    except BadSignature:
        return None
    if not isinstance(invitation_id, int) or isinstance(invitation_id, bool):
        return None
    return ctx.session.get(Invitation, invitation_id)


def base_url(ctx: ServiceContext) -> str:
    """Where invitees reach the CRM: the public address of the marketing pages (else of the service portal)."""
    return str(ctx.settings.get("MARKETING_PUBLIC_URL") or ctx.settings.get("SERVICE_PUBLIC_URL") or "").rstrip("/")


def rsvp_url(ctx: ServiceContext, invitation: Invitation) -> str:
    return f"{base_url(ctx)}/events/r/{token(ctx, 'rsvp', invitation.id)}"


def checkin_url(ctx: ServiceContext, invitation: Invitation) -> str:
    """What the guest's QR code holds: the staff check-in page with the guest's token (staff log in)."""
    return f"{base_url(ctx)}/admin/member-events/checkin/?token={token(ctx, 'checkin', invitation.id)}"


def qr_svg(data: str) -> str:
    """``data`` as a QR code, inline SVG (segno: pure Python), error correction M, dark on white."""
    import segno

    return str(segno.make_qr(data, error="m").svg_inline(scale=4, border=2, dark="#111", light="#fff"))


# --- inviting -------------------------------------------------------------------------------------


def invite(ctx: ServiceContext, event_id: int, data: Any) -> dict[str, int]:
    """Invite the members of an audience (``audience_id``, default: the event's) and/or ``customer_ids``:
    one invitation per customer (an invitee already invited is left as they are). Returns
    ``{"invited": new, "already": known}``."""
    from plugins.marketing.models import Audience
    from plugins.marketing.services.audiences import members_query

    ctx.require("member_events.manage")
    event = get_event(ctx, event_id)
    message = _("The invitations cannot be sent.")
    clean = load(_INVITE, data, partial=False, message=message)
    if event.cancelled:
        raise ValidationError(message, errors={"event": [_("The event is cancelled.")]})
    if event.starts_at <= utcnow():
        raise ValidationError(message, errors={"event": [_("The event has started; it takes no more invitations.")]})
    ids: set[int] = set()
    audience_id = clean.get("audience_id") or (event.audience_id if not clean["customer_ids"] else None)
    if audience_id is not None:
        audience = ctx.session.get(Audience, audience_id)
        if audience is None:
            raise ValidationError(message, errors={"audience_id": [_("Audience %(id)s does not exist.", id=audience_id)]})
        ids |= set(ctx.session.scalars(members_query(ctx, audience)))
    if clean["customer_ids"]:
        live = set(ctx.session.scalars(select(Customer.id).where(Customer.id.in_(clean["customer_ids"]),
                                                                 Customer.deleted_at.is_(None),
                                                                 Customer.merged_into_id.is_(None))))
        missing = sorted(set(clean["customer_ids"]) - live)
        if missing:
            raise ValidationError(message, errors={"customer_ids": [
                _("Customer %(id)s does not exist.", id=missing[0])]})
        ids |= live
    if not ids and audience_id is None and not clean["customer_ids"]:
        raise ValidationError(message, errors={"audience_id": [_("Say whom to invite: an audience or customers.")]})
    known = set(ctx.session.scalars(select(Invitation.customer_id).where(Invitation.event_id == event.id)))
    new = sorted(ids - known)
    with unit_of_work(ctx):
        ctx.session.add_all([Invitation(event_id=event.id, customer_id=cid) for cid in new])
        ctx.session.flush()
        if new:
            record_change(ctx, "member_event", "updated", event.id, {"invitations": [len(known), len(known) + len(new)]},
                          event_name="member_event.invited", data={"name": event.name, "invited": len(new)})
    return {"invited": len(new), "already": len(ids & known)}


def list_invitations(ctx: ServiceContext, event_id: int, *, response: str | None = None, page: int = 1,
                     page_size: int = 25) -> tuple[list[Invitation], int]:
    get_event(ctx, event_id)
    stmt = select(Invitation).where(Invitation.event_id == event_id)
    if response:
        stmt = stmt.where(Invitation.response == response)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = list(ctx.session.scalars(stmt.order_by(Invitation.id).offset((page - 1) * page_size).limit(page_size)))
    for inv in items:
        inv.rsvp_url = rsvp_url(ctx, inv)  # shown, not stored
    return items, int(total or 0)


# --- answering (public, by the signed link) ----------------------------------------------------------


def closed_reason(event: MemberEvent) -> str | None:
    """Why answers are closed (cancelled, started), else None."""
    if event.cancelled:
        return str(_("The event is cancelled."))
    if event.starts_at <= utcnow():
        return str(_("The event has started; answers are closed."))
    return None


def answer(ctx: ServiceContext, rsvp_token: str, data: Any) -> Invitation:
    """Record an invitee's answer from their signed link (no login: the token is the proof). Yes, no or
    maybe, changeable until the event starts; a yes only while there is room (the event is locked while
    the yeses are counted, so two last answers cannot both take the last place)."""
    invitation = read_token(ctx, "rsvp", rsvp_token)
    if invitation is None:
        raise NotFound(_("This invitation link is not valid."))
    message = _("The answer cannot be recorded.")
    clean = load(_ANSWER, data, partial=False, message=message)
    with unit_of_work(ctx):
        event = ctx.session.scalar(select(MemberEvent).where(MemberEvent.id == invitation.event_id)
                                   .with_for_update().execution_options(populate_existing=True))
        assert event is not None  # an invitation's event: deleted with it
        why = closed_reason(event)
        if why is not None:
            raise ValidationError(message, errors={"response": [why]})
        if clean["response"] == "yes" and invitation.response != "yes" and event.capacity is not None:
            yes = ctx.session.scalar(select(func.count()).select_from(Invitation).where(
                Invitation.event_id == event.id, Invitation.response == "yes")) or 0
            if yes >= event.capacity:
                raise ValidationError(message, errors={"response": [
                    _("Sorry, the event is full: all %(n)s places are taken.", n=event.capacity)]})
        if invitation.response == clean["response"]:
            return invitation
        before = invitation.response
        invitation.response, invitation.responded_at = clean["response"], utcnow()
        ctx.session.flush()
        record_change(ctx, "member_event_invitation", "updated", invitation.id,
                      {"response": [before, invitation.response]}, event_name="member_event.answered",
                      data={"event_id": event.id, "customer_id": invitation.customer_id})
    return invitation


# --- check-in (staff) ------------------------------------------------------------------------------


def token_of(text: str) -> str:
    """The token in what a scanner typed: the check-in address the QR code holds, or the token alone."""
    text = text.strip()
    if "?" in text or "/" in text:
        values = parse_qs(urlsplit(text).query).get("token")
        return values[0] if values else ""
    return text


def check_in(ctx: ServiceContext, data: Any) -> tuple[Invitation, bool]:
    """Check a guest in by the token of their QR code; returns the invitation and whether this scan checked
    them in (False: they were in already; nothing changes). The attendance goes on the customer's timeline
    and ``member_event.attended`` is emitted (a journey can follow up)."""
    ctx.require("member_events.checkin")
    message = _("The guest cannot be checked in.")
    clean = load(_CHECKIN, data, partial=False, message=message)
    invitation = read_token(ctx, "checkin", token_of(clean["token"]))
    if invitation is None:
        raise ValidationError(message, errors={"token": [_("This is not the QR code of a guest of ours.")]})
    event = invitation.event
    if event.cancelled:
        raise ValidationError(message, errors={"token": [_("The event is cancelled.")]})
    if utcnow() < event.starts_at - CHECKIN_OPENS:
        raise ValidationError(message, errors={"token": [
            _("Check-in opens %(hours)s hours before the start (%(time)s).", hours=int(CHECKIN_OPENS.total_seconds()
                                                                                    // 3600),
              time=f"{local_start(event):%Y-%m-%d %H:%M}")]})
    with unit_of_work(ctx):
        locked = ctx.session.scalar(select(Invitation).where(Invitation.id == invitation.id)
                                    .with_for_update(of=Invitation)
                                    .execution_options(populate_existing=True))
        if locked is None:
            raise Conflict(_("The invitation was deleted; reload and try again."))
        if locked.checked_in_at is not None:
            return locked, False
        locked.checked_in_at, locked.checked_in_by_id = utcnow(), getattr(ctx.actor, "id", None)
        ctx.session.flush()
        # on the timeline as the event's own record: the door staff check in any guest, whoever owns the customer
        system = ctx.runtime.context(source="member-events", session=ctx.session)
        interactions.log_interaction(system, locked.customer_id, {
            "channel": "meeting", "direction": "inbound",
            "subject": str(_("Attended the event %(name)s", name=event.name))[:255],
            "body": event.place})
        record_change(ctx, "member_event_invitation", "updated", locked.id,
                      {"checked_in_at": [None, locked.checked_in_at]}, event_name=ATTENDED,
                      data={"event_id": event.id, "event_name": event.name, "customer_id": locked.customer_id,
                            "response": locked.response})
    return locked, True


def customer_panels(ctx: ServiceContext, customer: Any) -> list[Any]:
    """The customer's events (their answer, whether they came) on their page, with the read permission."""
    if not ctx.can("member_events.read"):
        return []
    from crmcore.contracts import Panel

    from ..labels import RESPONSE_WORDS

    found = list(ctx.session.scalars(select(Invitation).where(Invitation.customer_id == customer.id)
                                     .order_by(Invitation.id.desc()).limit(10)))
    if not found:
        return []
    rows = [(f"{inv.event.name} ({local_start(inv.event):%Y-%m-%d %H:%M})",
             str(RESPONSE_WORDS[inv.response]) + (f" · {_('Checked in')}" if inv.checked_in_at else ""))
            for inv in found]
    return [Panel("member_events", _("Member events"), order=70, rows=rows)]
