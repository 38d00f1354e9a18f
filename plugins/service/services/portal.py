"""Self-service links: a customer's status link carries a signed token (itsdangerous, the app's
secret key, a time limit) holding the ticket id and a nonce whose SHA-256 is stored on the ticket.
A tampered, expired, foreign or replaced token finds nothing (the caller answers 404).

The nonce is an HMAC (the app's secret key) of the ticket id and a random *issue id*. The event
``service.ticket.link_issued`` carries only the issue id, so the mailer can rebuild the link at
delivery time while neither the outbox, the audit log nor any listener ever holds a usable link."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from crmcore.errors import NotFound, ValidationError
from crmcore.i18n import _
from crmcore.normalize import normalize_email
from crmcore.services.unit import unit_of_work
from crmcore.contracts import Event
from crmcore.events import audit, emit

from ..models import Ticket
from .intake import match_sender
from .tickets import create_ticket, get_ticket

DEFAULT_DAYS = 180
LINK_ISSUED = "service.ticket.link_issued"
LOCALES = ("zh_CN", "en")
MAX_SUBJECT = 255
MAX_TEXT = 20_000


def _serializer(ctx: Any) -> URLSafeTimedSerializer:
    from crmcore.config import secret_key

    return URLSafeTimedSerializer(secret_key(ctx.settings), salt="service-portal")


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _nonce(ctx: Any, ticket_id: int, issue: str) -> str:
    from crmcore.config import secret_key

    mac = hmac.new(secret_key(ctx.settings).encode(), f"service-portal-nonce:{ticket_id}:{issue}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue_link(ctx: Any, ticket: Ticket) -> tuple[str, str]:
    """A new status-link token and its issue id; earlier links stop working. Call inside a unit of
    work, after the ticket has an id."""
    issue = secrets.token_urlsafe(18)
    ticket.portal_nonce_hash = _hash(_nonce(ctx, ticket.id, issue))
    return token_for_issue(ctx, ticket, issue) or "", issue




def token_for_issue(ctx: Any, ticket: Ticket, issue: str) -> str | None:
    """The status-link token of an issue id, or None when a newer link has replaced it."""
    nonce = _nonce(ctx, ticket.id, str(issue))
    if not ticket.portal_nonce_hash or not hmac.compare_digest(ticket.portal_nonce_hash, _hash(nonce)):
        return None
    return str(_serializer(ctx).dumps({"t": ticket.id, "n": nonce}))


def announce_link(ctx: Any, ticket: Ticket, issue: str, reason: str, locale: str | None = None) -> None:
    """Emit ``service.ticket.link_issued`` (the mailer sends the link to the customer). ``reason``
    is ``submitted`` or ``reissued``; ``locale`` the language of the mail (else the ticket's)."""
    locale = locale if locale in LOCALES else (ticket.customer_locale or None)
    emit(ctx, Event(name=LINK_ISSUED, entity="service_ticket", entity_id=ticket.id,
                    data={"number": ticket.number, "issue": issue, "reason": reason, "locale": locale}))


def ticket_for_token(ctx: Any, token: str) -> Ticket:
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


def submit_request(ctx: Any, data: dict[str, Any], locale: str | None = None) -> tuple[Ticket, str]:
    """A request from the public form (system context): the ticket and its status-link token. The
    customer is mailed the link (``service.ticket.link_issued``) in ``locale``, the form's language."""
    errors: dict[str, list[Any]] = {}
    name = (data.get("name") or "").strip()[:255]
    email = normalize_email(data.get("email"))
    subject = (data.get("subject") or "").strip()[:MAX_SUBJECT]
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
    if errors:
        raise ValidationError(_("Please correct the marked fields."), errors=errors)
    customer_id, contact_id = match_sender(ctx, email)
    with unit_of_work(ctx):
        ticket = create_ticket(ctx, {"subject": subject, "description": text, "customer_id": customer_id,
                                     "contact_id": contact_id, "requester_name": name, "requester_email": email,
                                     "order_number": (data.get("order_number") or "").strip()[:64] or None},
                               channel="web", first_message={"body": text, "from_name": name, "from_email": email,
                                                             "author": "customer"})
        ticket.customer_locale = locale if locale in LOCALES else None
        token, issue = issue_link(ctx, ticket)
        announce_link(ctx, ticket, issue, "submitted")
    return ticket, token


def reissue_link(ctx: Any, ticket_id: int) -> str:
    """A fresh status-link token for an agent to give the customer (the old link stops working); the
    customer is also mailed it when they have an address (in the language of their request)."""
    ticket = get_ticket(ctx, ticket_id, "service.ticket.write")
    with unit_of_work(ctx):
        token, issue = issue_link(ctx, ticket)
        ctx.session.flush()
        audit(ctx, "link_issued", "service_ticket", ticket.id, {}, {"number": ticket.number})
        announce_link(ctx, ticket, issue, "reissued")
    return token
