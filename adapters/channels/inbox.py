"""The inbound pipeline: store a verified message once, match its sender, put it on the timeline or in the
unmatched queue, hand scenes and tickets to plugins; the agent's link and make-a-lead actions.

:func:`receive` is what every channel adapter calls after verifying and parsing a callback. It runs in
one unit of work (joining the caller's): the message row, the identities learnt, the interaction, the
ticket and the scene hook's writes commit together or not at all.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from crmcore.errors import BadRequest, CRMError, NotFound, ValidationError
from crmcore.events import jsonable, record_change
from crmcore.i18n import _, title_data
from crmcore.models import Contact, Customer
from crmcore.normalize import normalize_email, normalize_phone
from crmcore.runtime import ServiceContext
from crmcore.services import identities, interactions
from crmcore.services.customers import get_customer
from crmcore.services.unit import unit_of_work

from .base import PLATFORMS, Inbound
from .models import ChannelAccount, ChannelMessage
from .upsert import insert_or_skip

# The identity an inbound sender id is, per platform (an openid per app id, an external userid per corp).
SENDER_IDENTITY = {"wechat": "wechat_openid", "wecom": "wecom_external_userid", "qq": "qq", "weibo": "weibo"}
# The interaction channel of each platform (crmcore.models.interaction.CHANNELS).
TIMELINE_CHANNEL = {"wechat": "wechat", "wecom": "wecom", "sms": "sms", "email": "email", "qq": "qq", "weibo": "weibo"}
NOT_ON_TIMELINE = ("receipt",)
# events whose scene goes to crm_channel_scene: a WeChat QR code (subscribe, SCAN), a WeCom "contact me" way's
# state (a customer added a staff member through it; the half-added one too)
SCENE_EVENTS = ("subscribe", "scan", "add_external_contact", "add_half_external_contact")
EVENT_SUBJECTS = {"subscribe": _("Followed the account"), "unsubscribe": _("Unfollowed the account"),
                  "scan": _("Scanned a QR code"), "click": _("Clicked a menu")}
KIND_SUBJECTS = {"image": _("Sent an image"), "voice": _("Sent a voice message"), "video": _("Sent a video"),
                 "location": _("Sent a location"), "link": _("Sent a link")}
INVALID = _("The inbound message is not valid.")
LIMITS = {"account": 64, "sender": 255, "msg_id": 128, "kind": 32, "event": 64, "scene": 128, "unionid": 128}


def check(inbound: Inbound) -> None:
    """Refuse an inbound record the pipeline cannot store faithfully (an adapter's bug, not the sender's)."""
    errors: dict[str, list[str]] = {}
    if inbound.platform not in PLATFORMS:
        errors["platform"] = [str(_("Not one of the platforms: %(choices)s.", choices=", ".join(PLATFORMS)))]
    for name, limit in LIMITS.items():
        value = getattr(inbound, name)
        if name in ("account", "sender", "msg_id", "kind") and not value:
            errors[name] = [str(_("This field cannot be empty."))]
        elif value is not None and len(str(value)) > limit:
            errors[name] = [str(_("At most %(n)s characters.", n=limit))]
    if not isinstance(inbound.received_at, dt.datetime) or inbound.received_at.tzinfo is None:
        errors["received_at"] = [str(_("Give an aware date and time."))]
    if errors:
        raise ValidationError(INVALID, errors=errors)


def receive(ctx: ServiceContext, inbound: Inbound, replies: list[str] | None = None) -> ChannelMessage | None:
    """Store one verified inbound message and route it; None when it was stored before (a replayed or
    duplicate callback changes nothing). Matched: on the customer's timeline as an interaction of its
    channel (and a ticket when the account opens tickets); unmatched: in the queue (status ``unmatched``).
    What ``crm_channel_scene`` answers the sender is appended to ``replies``."""
    check(inbound)
    with unit_of_work(ctx):
        message = _store(ctx, inbound)
        if message is None:
            return None
        if inbound.kind in NOT_ON_TIMELINE:
            message.status = "ignored"
            return message
        customer, matched_by = match(ctx, inbound)
        if customer is not None:
            _attach(ctx, message, customer, matched_by or "identity")
            account = _account(ctx, inbound.platform, inbound.account)
            if account is not None and account.open_tickets and inbound.kind == "text":
                message.ticket_id = ctx.hook.crm_channel_ticket(ctx=ctx, message=message, customer=customer)
        if inbound.scene and inbound.event in SCENE_EVENTS:
            answers = ctx.hook.crm_channel_scene(ctx=ctx, inbound=inbound, customer=customer, lead_id=None)
            if replies is not None:
                replies.extend(str(a) for a in answers or [] if a)
        record_change(ctx, "channel_message", "received", message.id,
                      data={"platform": message.platform, "status": message.status, "customer_id": message.customer_id})
    return message


def _account(ctx: ServiceContext, platform: str, account: str) -> ChannelAccount | None:
    """The receiving account: the one the callback read (``accounts.find_account``) while it is loaded and fresh
    in this session (no second query), else read."""
    known = ctx.session.info.get(("channel_account", platform, account))
    if known is not None and known in ctx.session and not sa_inspect(known).expired_attributes:
        return known  # type: ignore[no-any-return]
    return ctx.session.scalar(select(ChannelAccount).where(ChannelAccount.platform == platform,
                                                           ChannelAccount.account == account))


def _store(ctx: ServiceContext, inbound: Inbound) -> ChannelMessage | None:
    """Store the message once: one INSERT ... ON CONFLICT DO NOTHING RETURNING (a duplicate: None)."""
    values = {"platform": inbound.platform, "account": inbound.account, "msg_id": inbound.msg_id,
              "sender": inbound.sender, "unionid": inbound.unionid, "kind": inbound.kind, "event": inbound.event,
              "scene": inbound.scene, "text": inbound.text, "received_at": inbound.received_at, "status": "unmatched",
              "raw": jsonable(inbound.raw)}
    stmt = insert_or_skip(ctx, ChannelMessage, ["platform", "account", "msg_id"], values)
    if stmt is not None:
        stored: ChannelMessage | None = ctx.session.scalars(stmt.returning(ChannelMessage)).first()
        return stored
    savepoint = ctx.session.begin_nested()
    try:
        message = ChannelMessage(platform=inbound.platform, account=inbound.account, msg_id=inbound.msg_id,
                                 sender=inbound.sender, unionid=inbound.unionid, kind=inbound.kind,
                                 event=inbound.event, scene=inbound.scene, text=inbound.text,
                                 received_at=inbound.received_at, status="unmatched", raw=jsonable(inbound.raw))
        ctx.session.add(message)
        ctx.session.flush()
    except IntegrityError:
        savepoint.rollback()
        return None
    savepoint.commit()
    return message


def _one(ctx: ServiceContext, ids: set[int]) -> Customer | None:
    """The live customer when exactly one matches (several: an agent decides in the queue)."""
    live = set(ctx.session.scalars(select(Customer.id).where(
        Customer.id.in_(ids), Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))))
    return ctx.session.get(Customer, live.pop()) if len(live) == 1 else None


def match(ctx: ServiceContext, inbound: Inbound) -> tuple[Customer | None, str | None]:
    """The customer who sent ``inbound`` and how they were found: their identity on the platform (openid,
    external userid, QQ, Weibo), the unionid, or one customer's phone (E.164) or e-mail address."""
    platform = SENDER_IDENTITY.get(inbound.platform)
    if platform is not None:
        found = identities.find_customer(ctx, platform, inbound.sender, inbound.account)
        if found is not None:
            return found, "identity"
    if inbound.unionid:
        found = identities.find_customer(ctx, "wechat_unionid", inbound.unionid)
        if found is not None:
            return found, "unionid"
    phone = normalize_phone(inbound.sender, ctx.settings["DEFAULT_REGION"]) if inbound.platform == "sms" else None
    if phone:
        by_contact = select(Contact.customer_id).where(or_(Contact.phone_normalized == phone,
                                                           Contact.mobile_normalized == phone))
        ids = set(ctx.session.scalars(select(Customer.id).where(or_(Customer.phone_normalized == phone,
                                                                    Customer.id.in_(by_contact)))))
        return _one(ctx, ids), "phone"
    email = normalize_email(inbound.sender) if inbound.platform == "email" else None
    if email:
        by_contact = select(Contact.customer_id).where(Contact.email_normalized == email)
        ids = set(ctx.session.scalars(select(Customer.id).where(or_(Customer.email_normalized == email,
                                                                    Customer.id.in_(by_contact)))))
        return _one(ctx, ids), "email"
    return None, None


def learn(ctx: ServiceContext, message: ChannelMessage, customer_id: int, source: str,
          known_sender: bool = False) -> None:
    """Record the sender's ids (openid, external userid, unionid) as identities of the customer
    (``known_sender``: the customer was found by the sender's id, which is theirs already)."""
    platform = SENDER_IDENTITY.get(message.platform)
    if platform is not None and not known_sender:
        identities.record(ctx, customer_id, platform, message.sender, message.account, source=source)
    if message.unionid:
        identities.record(ctx, customer_id, "wechat_unionid", message.unionid, source=source)


def subject_message(message: ChannelMessage) -> Any:
    """The interaction's subject: the text's first line, or (a message marked for translation) what the event
    or message kind was."""
    if message.text:
        line = message.text.strip().splitlines()[0] if message.text.strip() else ""
        if line:
            return line[:255]
    if message.event in EVENT_SUBJECTS:
        return EVENT_SUBJECTS[message.event]
    return KIND_SUBJECTS.get(message.kind, _("Sent a message"))


def subject(message: ChannelMessage) -> str:
    """:func:`subject_message` as text in the reader's language."""
    return str(subject_message(message))


def _attach(ctx: ServiceContext, message: ChannelMessage, customer: Customer, matched_by: str) -> None:
    learn(ctx, message, customer.id, "channel" if matched_by != "link" else "link", known_sender=matched_by == "identity")
    title = subject_message(message)
    item = interactions.log_interaction(ctx, customer.id, {
        "channel": TIMELINE_CHANNEL[message.platform], "direction": "inbound", "subject": str(title),
        "body": message.text, "occurred_at": message.received_at, "entity_type": "channel_message",
        "entity_id": str(message.id), "source": "channels",
        "data": {"message_id": message.id, "kind": message.kind, "event": message.event,
                 **title_data(title)}})  # an event's title in each reader's language
    message.customer_id, message.interaction_id = customer.id, item.id
    message.status, message.matched_by = "matched", matched_by


# ---- the unmatched queue ---------------------------------------------------------------------------------


def get_message(ctx: ServiceContext, message_id: int) -> ChannelMessage:
    """One message; a matched one only when its customer is visible to the actor (else the same 404)."""
    ctx.require("channels.read")
    message = ctx.session.get(ChannelMessage, message_id)
    if message is not None and message.customer_id is not None:
        try:
            get_customer(ctx, message.customer_id)
        except CRMError:
            message = None
    if message is None:
        raise NotFound(_("Message %(id)s does not exist.", id=message_id))
    return message


def _same_sender(ctx: ServiceContext, message: ChannelMessage) -> list[ChannelMessage]:
    """The queue's messages from the sender of ``message`` (it first), oldest first."""
    rows = ctx.session.scalars(select(ChannelMessage).where(
        ChannelMessage.platform == message.platform, ChannelMessage.account == message.account,
        ChannelMessage.sender == message.sender, ChannelMessage.status == "unmatched").order_by(ChannelMessage.id))
    return list(rows)


def link(ctx: ServiceContext, message_id: int, customer_id: int) -> list[ChannelMessage]:
    """Link an unmatched message, and every queued message of its sender, to a customer: the sender's ids
    become the customer's identities and the messages go on the timeline. Returns the messages linked."""
    ctx.require("channels.manage")
    message = get_message(ctx, message_id)
    if message.status != "unmatched":
        raise BadRequest(_("This message is not in the unmatched queue any more."))
    customer = get_customer(ctx, customer_id, permission="customer.write")
    with unit_of_work(ctx):
        linked = _same_sender(ctx, message)
        for item in linked:
            _attach(ctx, item, customer, "link")
        answered = _queued_scenes(ctx, linked, customer=customer)
        record_change(ctx, "channel_message", "linked", message.id,
                      data={"customer_id": customer.id, "messages": [m.id for m in linked]})
    if answered:
        from .scene_replies import send_scene_replies

        send_scene_replies(ctx, answered)
    return linked


def inbound_of(message: ChannelMessage) -> Inbound:
    """A stored message as the :class:`Inbound` it was received as."""
    return Inbound(platform=message.platform, account=message.account, sender=message.sender, msg_id=message.msg_id,
                   kind=message.kind, received_at=message.received_at, text=message.text, event=message.event,
                   unionid=message.unionid, scene=message.scene, raw=dict(message.raw or {}))


def _queued_scenes(ctx: ServiceContext, messages: list[ChannelMessage], customer: Customer | None = None,
                   lead_id: int | None = None) -> list[tuple[ChannelMessage, list[str]]]:
    """The QR code scenes a queued follower scanned, handed on now that they are a customer or a lead; what the
    handlers answered, per message (sent by :func:`scene_replies.send_scene_replies` once committed)."""
    answered = []
    for item in messages:
        if item.scene and item.event in SCENE_EVENTS:
            answers = ctx.hook.crm_channel_scene(ctx=ctx, inbound=inbound_of(item), customer=customer, lead_id=lead_id)
            texts = [str(a) for a in answers or [] if a]
            if texts:
                answered.append((item, texts))
    return answered


def make_lead(ctx: ServiceContext, message_id: int, data: dict[str, Any]) -> int:
    """Turn an unmatched message's sender into a lead (through ``crm_channel_lead``, the sales plugin's lead
    service); the sender's queued messages leave the queue with the lead's id. Returns the lead's id."""
    ctx.require("channels.manage")
    message = get_message(ctx, message_id)
    if message.status != "unmatched":
        raise BadRequest(_("This message is not in the unmatched queue any more."))
    if not isinstance(data, dict):
        raise ValidationError(_("The lead is not valid."), errors={"_schema": [str(_("Give the fields as an object."))]})
    fields = dict(data)
    fields["source_channel"] = TIMELINE_CHANNEL[message.platform]
    if message.platform == "sms":
        fields.setdefault("phone", message.sender)
    if message.platform == "email":
        fields.setdefault("email", message.sender)
    fields.setdefault("message", message.text)
    with unit_of_work(ctx):
        lead_id = ctx.hook.crm_channel_lead(ctx=ctx, message=message, data=fields)
        if lead_id is None:
            raise BadRequest(_("No plugin turns messages into leads; enable the sales plugin."))
        queued = _same_sender(ctx, message)
        for item in queued:
            item.status, item.lead_id = "lead", lead_id
        answered = _queued_scenes(ctx, queued, lead_id=int(lead_id))
        record_change(ctx, "channel_message", "lead", message.id,
                      data={"lead_id": lead_id, "messages": [m.id for m in queued]})
    if answered:
        from .scene_replies import send_scene_replies

        send_scene_replies(ctx, answered)
    return int(lead_id)


def list_messages(ctx: ServiceContext, *, status: str | None = None, platform: str | None = None,
                  customer_id: int | None = None, page: int = 1, page_size: int = 25) -> tuple[list[ChannelMessage], int]:
    """Inbound messages, newest first: unmatched ones, and matched ones of customers the actor may see."""
    from sqlalchemy import func

    from crmcore.services import access

    ctx.require("channels.read")
    visible = access.scope_customers(ctx, select(Customer.id))
    stmt = select(ChannelMessage).where(or_(ChannelMessage.customer_id.is_(None),
                                            ChannelMessage.customer_id.in_(visible)))
    if status:
        stmt = stmt.where(ChannelMessage.status == status)
    if platform:
        stmt = stmt.where(ChannelMessage.platform == platform)
    if customer_id is not None:
        stmt = stmt.where(ChannelMessage.customer_id == customer_id)
    total = int(ctx.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    items = list(ctx.session.scalars(stmt.order_by(ChannelMessage.id.desc()).offset((page - 1) * page_size).limit(page_size)))
    return items, total
