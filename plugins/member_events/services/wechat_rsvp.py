"""RSVP through WeChat: an event's QR code (any invited follower) or one invitation's carries the scene
``evt_<token>``; the channels plugin hands a scan on (``crm_channel_scene``), the answer "coming" is recorded
once and the follower is told what was recorded, in their language."""
from __future__ import annotations

import datetime as dt
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from crmcore.db import utcnow
from crmcore.errors import CRMError
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.services.validation import messages_text

from ..models import Invitation, MemberEvent
from . import invitations
from .events import local_start

SCENE_PREFIX = "evt_"  # the scene of a member event's WeChat QR code
SALT = "crm-member-events-scene"
KINDS = {"e": MemberEvent, "i": Invitation}


def _serializer(ctx: ServiceContext) -> URLSafeSerializer:
    from crmcore.config import secret_key

    return URLSafeSerializer(secret_key(ctx.settings), salt=SALT)


def scene(ctx: ServiceContext, obj: MemberEvent | Invitation) -> str:
    """The scene of the WeChat QR code of an event or of one invitation (signed; at most 64 characters)."""
    kind = "e" if isinstance(obj, MemberEvent) else "i"
    return SCENE_PREFIX + str(_serializer(ctx).dumps([kind, obj.id]))


def read_scene(ctx: ServiceContext, value: Any) -> MemberEvent | Invitation | None:
    """The event or invitation of a valid scene (forged, changed, or its record deleted: None)."""
    if not isinstance(value, str) or not value.startswith(SCENE_PREFIX) or len(value) > 128:
        return None
    try:
        kind, obj_id = _serializer(ctx).loads(value[len(SCENE_PREFIX):])
    except (BadSignature, ValueError, TypeError):
        return None
    if kind not in KINDS or not isinstance(obj_id, int) or isinstance(obj_id, bool):
        return None
    found: MemberEvent | Invitation | None = ctx.session.get(KINDS[kind], obj_id)
    return found


def qrcode_url(ctx: ServiceContext, obj: MemberEvent | Invitation) -> str | None:
    """What the WeChat QR code of an event or invitation holds, valid until the event starts (30 days at most);
    None without the channels plugin, a WeChat account, or an event open to answers."""
    event = obj if isinstance(obj, MemberEvent) else obj.event
    ask = getattr(ctx.hook, "crm_channel_scene_qrcode", None)
    if ask is None or invitations.closed_reason(event) is not None:
        return None
    seconds = int((event.starts_at - utcnow()).total_seconds())
    url = ask(ctx=ctx, scene=scene(ctx, obj), expires_in=seconds)
    return str(url) if url else None


def _language(ctx: ServiceContext, customer_id: int | None) -> str:
    from plugins.marketing.services.languages import language_of

    spoken = language_of(ctx, [customer_id]).get(customer_id) if customer_id is not None else None
    return str(spoken or ctx.settings.get("DEFAULT_LOCALE") or "en")


def on_scene(ctx: ServiceContext, inbound: Any, customer: Any, lead_id: int | None) -> str | None:
    """``crm_channel_scene``: a scanned ``evt_`` scene records "coming" (once; a later answer is never undone by
    a scan handed on late) and returns the reply in the follower's language; other scenes: None."""
    value = getattr(inbound, "scene", None)
    if not isinstance(value, str) or not value.startswith(SCENE_PREFIX):
        return None
    if customer is None and lead_id is not None:
        return None  # a queued follower made a lead: a lead has no invitation, and nobody reads the reply
    from flask_babel import force_locale

    found = read_scene(ctx, value)
    invitation = found if isinstance(found, Invitation) else None
    if isinstance(found, MemberEvent) and customer is not None:
        invitation = ctx.session.scalar(select(Invitation).where(Invitation.event_id == found.id,
                                                                 Invitation.customer_id == customer.id))
    who = invitation.customer_id if invitation is not None else getattr(customer, "id", None)
    with force_locale(_language(ctx, who)):
        return str(_reply(ctx, found, invitation, getattr(inbound, "received_at", None)))


def _reply(ctx: ServiceContext, found: MemberEvent | Invitation | None, invitation: Invitation | None,
           scanned_at: dt.datetime | None) -> str:
    if found is None:
        return str(_("This QR code is not valid any more. Please answer through the link in your invitation."))
    if invitation is None:
        assert isinstance(found, MemberEvent)
        return str(_("We could not find your invitation to %(event)s from this WeChat account. Please answer "
                     "through the link in your invitation.", event=found.name))
    event = invitation.event
    when = f"{local_start(event):%Y-%m-%d %H:%M}"
    closed = invitations.closed_reason(event)
    if closed is not None:
        return closed
    if invitation.response == "yes":
        return str(_("You have said already that you are coming to %(event)s on %(time)s. See you there!",
                     event=event.name, time=when))
    if invitation.responded_at is not None and scanned_at is not None and invitation.responded_at > scanned_at:
        return str(_("Your later answer stands: %(link)s", link=invitations.rsvp_url(ctx, invitation)))
    try:
        with ctx.session.begin_nested():
            invitations.answer(ctx, invitations.token(ctx, "rsvp", invitation.id), {"response": "yes"})
    except CRMError as exc:  # the event is full, or closed in the meantime: nothing recorded
        return "; ".join(m for v in messages_text(getattr(exc, "errors", None) or {}).values() for m in v) or str(exc.message)
    return str(_("Thank you! We have recorded that you are coming to %(event)s on %(time)s at %(place)s. To change "
                 "your answer: %(link)s", event=event.name, time=when, place=event.place,
                 link=invitations.rsvp_url(ctx, invitation)))
