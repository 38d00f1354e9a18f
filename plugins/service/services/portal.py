"""Self-service links: a customer's status link carries a signed token (itsdangerous, the app's
secret key, a time limit) holding the ticket id and a nonce whose SHA-256 is stored on the ticket.
A tampered, expired, foreign or replaced token finds nothing (the caller answers 404).

The nonce is an HMAC (the app's secret key) of the ticket id and a random *issue id*. The event
``service.ticket.link_issued`` carries only the issue id, so the mailer can rebuild the link at
delivery time while neither the outbox, the audit log nor any listener ever holds a usable link.

A request from the public form names an e-mail address that nobody has proven to own yet, so it is
held unattached: no customer, and its status page shows only what the requester sent. The address
gets a confirmation link (signed, salt ``service-portal-confirm``, expiring after
``SERVICE_PORTAL_CONFIRM_HOURS``, single use: only the SHA-256 of its nonce is stored, cleared when
used). Confirming attaches the request to the customer of that address, if any, replaces the status
link (a link shown in the submitter's browser stops working) and mails the new one to the address.
Nothing the submitter sees depends on whether the address belongs to a customer."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from crmcore.errors import Conflict, NotFound, ValidationError
from crmcore.i18n import _
from crmcore.services.unit import unit_of_work
from crmcore.contracts import Event
from crmcore.events import audit, emit
from crmcore.runtime import ServiceContext

from ..models import Ticket
from .intake import match_sender
from .tickets import _timeline, create_ticket, get_ticket, update_ticket, validate_ticket

DEFAULT_DAYS = 180
CONFIRM_HOURS = 48
LINK_ISSUED = "service.ticket.link_issued"
LOCALES = ("zh_CN", "en")
PORTAL_FIELDS = {"requester_name": "name", "requester_email": "email", "requester_phone": "phone",
                 "requester_wechat": "wechat"}  # the ticket's fields on the public form
MAX_TEXT = 20_000


def _serializer(ctx: ServiceContext, salt: str = "service-portal") -> URLSafeTimedSerializer:
    from crmcore.config import secret_key

    return URLSafeTimedSerializer(secret_key(ctx.settings), salt=salt)


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _nonce(ctx: ServiceContext, ticket_id: int, issue: str, purpose: str = "nonce") -> str:
    from crmcore.config import secret_key

    mac = hmac.new(secret_key(ctx.settings).encode(), f"service-portal-{purpose}:{ticket_id}:{issue}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue_link(ctx: ServiceContext, ticket: Ticket) -> tuple[str, str]:
    """A new status-link token and its issue id; earlier links stop working. Call inside a unit of
    work, after the ticket has an id."""
    issue = secrets.token_urlsafe(18)
    ticket.portal_nonce_hash = _hash(_nonce(ctx, ticket.id, issue))
    return token_for_issue(ctx, ticket, issue) or "", issue




def token_for_issue(ctx: ServiceContext, ticket: Ticket, issue: str) -> str | None:
    """The status-link token of an issue id, or None when a newer link has replaced it."""
    nonce = _nonce(ctx, ticket.id, str(issue))
    if not ticket.portal_nonce_hash or not hmac.compare_digest(ticket.portal_nonce_hash, _hash(nonce)):
        return None
    return str(_serializer(ctx).dumps({"t": ticket.id, "n": nonce}))


def announce_link(ctx: ServiceContext, ticket: Ticket, issue: str | None, reason: str, locale: str | None = None,
                  confirm: str | None = None) -> None:
    """Emit ``service.ticket.link_issued`` (the mailer sends the links to the requester). ``reason``
    is ``submitted``, ``reissued``, ``confirm`` (the confirmation link again) or ``confirmed``;
    ``issue`` the status link's issue id, ``confirm`` the confirmation link's; ``locale`` the
    language of the mail (else the ticket's)."""
    locale = locale if locale in LOCALES else (ticket.customer_locale or None)
    emit(ctx, Event(name=LINK_ISSUED, entity="service_ticket", entity_id=ticket.id,
                    data={"number": ticket.number, "issue": issue, "confirm": confirm, "reason": reason,
                          "locale": locale}))


# ---- confirming the requester's e-mail address ---------------------------------------------------


def awaiting_confirmation(ticket: Ticket) -> bool:
    """True while the portal requester has not confirmed their address (the page shows only their own
    messages; the request is attached to no customer)."""
    return ticket.email_verify_hash is not None


def issue_confirmation(ctx: ServiceContext, ticket: Ticket) -> str:
    """A new confirmation issue id (earlier confirmation links stop working). Inside a unit of work."""
    issue = secrets.token_urlsafe(18)
    ticket.email_verify_hash = _hash(_nonce(ctx, ticket.id, issue, "confirm"))
    return issue


def confirm_token_for_issue(ctx: ServiceContext, ticket: Ticket, issue: str) -> str | None:
    """The confirmation-link token of an issue id; None once used or replaced."""
    nonce = _nonce(ctx, ticket.id, str(issue), "confirm")
    if not ticket.email_verify_hash or not hmac.compare_digest(ticket.email_verify_hash, _hash(nonce)):
        return None
    return str(_serializer(ctx, "service-portal-confirm").dumps({"t": ticket.id, "c": nonce}))


def confirm_hours(ctx: ServiceContext) -> float:
    """``SERVICE_PORTAL_CONFIRM_HOURS``: how long a confirmation link works (48 when unset or not a number)."""
    try:
        return float(ctx.settings.get("SERVICE_PORTAL_CONFIRM_HOURS") or CONFIRM_HOURS)
    except (TypeError, ValueError):
        return float(CONFIRM_HOURS)


def ticket_for_confirmation(ctx: ServiceContext, token: str) -> Ticket:
    """The ticket a confirmation link confirms; ``NotFound`` when forged, expired, used or replaced."""
    try:
        payload = _serializer(ctx, "service-portal-confirm").loads(token, max_age=int(confirm_hours(ctx) * 3600))
        ticket_id, nonce = int(payload["t"]), str(payload["c"])
    except (BadData, KeyError, TypeError, ValueError, OverflowError):
        raise NotFound(_("This confirmation link is not valid any more.")) from None
    ticket = ctx.session.get(Ticket, ticket_id)
    if ticket is None or not ticket.email_verify_hash or not hmac.compare_digest(ticket.email_verify_hash,
                                                                                 _hash(nonce)):
        raise NotFound(_("This confirmation link is not valid any more."))
    return ticket


def confirm_email(ctx: ServiceContext, token: str) -> tuple[Ticket, str]:
    """Use a confirmation link once: attach the request to the customer (or contact) of the confirmed
    address, if any and if no agent attached it meanwhile; replace the status link and mail the new
    one. Returns the ticket and its new status-link token."""
    ticket = ticket_for_confirmation(ctx, token)
    try:
        with unit_of_work(ctx):
            ticket.email_verify_hash = None  # single use; a concurrent use fails on the version check
            ctx.session.flush()
            if ticket.customer_id is None:
                customer_id, contact_id = match_sender(ctx, ticket.requester_email)
                if customer_id is not None:
                    update_ticket(ctx, ticket.id, {"customer_id": customer_id, "contact_id": contact_id})
                    _timeline(ctx, ticket, _("Ticket %(number)s opened: %(subject)s", number=ticket.number,
                                             subject=ticket.subject), ticket.description, "inbound")
            status_token, issue = issue_link(ctx, ticket)
            audit(ctx, "email_confirmed", "service_ticket", ticket.id, {}, {"number": ticket.number})
            announce_link(ctx, ticket, issue, "confirmed")
    except Conflict:
        raise NotFound(_("This confirmation link is not valid any more.")) from None
    return ticket, status_token


def resend_confirmation(ctx: ServiceContext, ticket: Ticket) -> bool:
    """Mail a new confirmation link (the earlier one stops working); False when already confirmed."""
    if not awaiting_confirmation(ticket):
        return False
    with unit_of_work(ctx):
        announce_link(ctx, ticket, None, "confirm", confirm=issue_confirmation(ctx, ticket))
    return True


def ticket_for_token(ctx: ServiceContext, token: str) -> Ticket:
    """The one ticket a token opens; ``NotFound`` for anything else (no detail why)."""
    days = int(ctx.settings.get("SERVICE_PORTAL_LINK_DAYS") or DEFAULT_DAYS)
    try:
        payload = _serializer(ctx).loads(token, max_age=days * 86400)
        ticket_id, nonce = int(payload["t"]), str(payload["n"])
    except (BadData, KeyError, TypeError, ValueError):
        raise NotFound(_("No such request.")) from None
    ticket = ctx.session.get(Ticket, ticket_id)
    if ticket is None or not ticket.portal_nonce_hash or not hmac.compare_digest(ticket.portal_nonce_hash, _hash(nonce)):
        raise NotFound(_("No such request."))
    return ticket


# Where a portal request may say it came from: the web form itself, or a messaging channel's menu linking to it.
PORTAL_CHANNELS = ("web", "wechat", "wecom", "qq", "weibo", "sms")


def submit_request(ctx: ServiceContext, data: dict[str, Any], locale: str | None = None) -> tuple[Ticket, str]:
    """A request from the public form (system context): the ticket and its status-link token. The
    customer is mailed the link (``service.ticket.link_issued``) in ``locale``, the form's language."""
    errors: dict[str, list[Any]] = {}
    name = (data.get("name") or "").strip()
    email = (data.get("email") or "").strip()
    subject = (data.get("subject") or "").strip()
    text = (data.get("description") or "").strip()
    if not name:
        errors["name"] = [_("Tell us your name.")]
    if not email:
        errors["email"] = [_("Give an e-mail address we can answer.")]
    if not subject:
        errors["subject"] = [_("A subject is required.")]
    if not text:
        errors["description"] = [_("Describe your request.")]
    elif len(text) > MAX_TEXT:
        errors["description"] = [_("At most %(n)s characters.", n=MAX_TEXT)]
    values = {"subject": subject, "description": text, "customer_id": None, "contact_id": None,
              "requester_name": name, "requester_email": email, "order_number": (data.get("order_number") or "").strip(),
              "requester_phone": (data.get("phone") or "").strip() or None,
              "requester_wechat": (data.get("wechat") or "").strip() or None}
    try:  # the ticket's own rules (lengths, the e-mail's form), named by the form's fields
        values = validate_ticket(ctx, values, None)
    except ValidationError as exc:
        for key, messages in exc.errors.items():
            errors.setdefault(PORTAL_FIELDS.get(key, key), messages)
    channel = (data.get("channel") or "").strip() or "web"
    if channel not in PORTAL_CHANNELS:  # the form's hidden field, from a channel's menu link
        errors["channel"] = [_("Unknown channel '%(channel)s'.", channel=channel[:32])]
    if errors:
        raise ValidationError(_("Please correct the marked fields."), errors=errors)
    email = values["requester_email"]
    with unit_of_work(ctx):  # no customer until the address is confirmed: anyone can type any address
        ticket = create_ticket(ctx, values, channel=channel, first_message={
            "body": text, "from_name": name, "from_email": email, "author": "customer"})
        ticket.customer_locale = locale if locale in LOCALES else None
        token, issue = issue_link(ctx, ticket)
        announce_link(ctx, ticket, issue, "submitted", confirm=issue_confirmation(ctx, ticket))
    return ticket, token


def reissue_link(ctx: ServiceContext, ticket_id: int) -> str:
    """A fresh status-link token for an agent to give the customer (the old link stops working); the
    customer is also mailed it when they have an address (in the language of their request)."""
    ticket = get_ticket(ctx, ticket_id, "service.ticket.write")
    with unit_of_work(ctx):
        token, issue = issue_link(ctx, ticket)
        confirm = issue_confirmation(ctx, ticket) if awaiting_confirmation(ticket) else None
        ctx.session.flush()
        audit(ctx, "link_issued", "service_ticket", ticket.id, {}, {"number": ticket.number})
        announce_link(ctx, ticket, issue, "reissued", confirm=confirm)
    return token
