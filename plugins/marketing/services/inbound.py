"""Bounces and replies of campaign mails, claimed from the service plugin's e-mail intake
(``crm_service_mail_received``).

A delivery status notification (RFC 3464: ``multipart/report; report-type=delivery-status``) names the
original ``Message-ID`` (in its returned message or headers) and, per recipient, the final recipient, the
action and the status: a ``failed`` action marks the campaign's recipient bounced (a ``5.x.x`` status is a
hard bounce: the address goes on the suppression list; ``4.x.x`` is soft), ``delivered`` records the
delivery. A mail answering a campaign mail (its ``In-Reply-To`` or ``References``) is a reply: on the
customer's timeline and in the campaign's results. Our Message-IDs carry a keyed digest, so neither can
be forged for a message we did not send."""
from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from html.parser import HTMLParser
from typing import Any

from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.services import interactions

from ..models import Campaign, Recipient
from . import consent, tracking

OURS = re.compile(r"<m(\d{1,18})\.([0-9a-f]{24})@[^<>\s]+>")
BODY_MAX = 20_000


@dataclass
class Failure:
    """One per-recipient block of a DSN."""

    recipient: str | None
    action: str
    status: str
    diagnostic: str | None

    @property
    def hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


def recipient_of(ctx: ServiceContext, message_id: str | None) -> Recipient | None:
    """The campaign recipient a Message-ID of ours was sent to (None for any other, or a forged, id)."""
    from .campaigns import message_id as expected

    match = OURS.search(message_id or "")
    if match is None:
        return None
    rid = int(match.group(1))
    if expected(ctx, rid) != match.group(0):
        return None
    return ctx.session.get(Recipient, rid)


def _field(block: Message, name: str) -> str:
    return " ".join(str(block.get(name) or "").split())


def delivery_status(message: EmailMessage) -> tuple[str | None, list[Failure]] | None:
    """``(original Message-ID, per-recipient blocks)`` of a DSN, else None (not a delivery status report)."""
    if message.get_content_type() != "multipart/report" or \
            str(message.get_param("report-type") or "").lower() != "delivery-status":
        return None
    original: str | None = None
    blocks: list[Failure] = []
    for part in message.iter_parts():
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            for block in (payload[1:] if isinstance(payload, list) else []):  # the first block is per message
                final = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
                blocks.append(Failure(final.rpartition(";")[2].strip().lower() or None,
                                      _field(block, "Action").lower(), _field(block, "Status"),
                                      _field(block, "Diagnostic-Code") or None))
        elif kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            returned = inner[0] if isinstance(inner, list) and inner else None
            original = original or (str(returned.get("Message-ID") or "") if returned is not None else None)
        elif kind in ("text/rfc822-headers", "message/rfc822-headers"):
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(part.get_payload())
            headers = HeaderParser().parsestr(text)
            original = original or str(headers.get("Message-ID") or "")
    return (original or None), blocks


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[str] = []

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain", "html"))
    if body is None:
        return ""
    content = str(body.get_content())
    if body.get_content_type() == "text/html":
        parser = _Text()
        parser.feed(content)
        content = " ".join("".join(parser.out).split())
    return content.strip()[:BODY_MAX]


def _timeline(ctx: ServiceContext, recipient: Recipient, subject: str, body: str | None = None) -> None:
    system = ctx.runtime.context(session=ctx.session, source="marketing")  # the customer may be anyone's
    interactions.log_interaction(system, recipient.customer_id, {
        "channel": "email", "direction": "inbound", "subject": subject[:255], "body": body,
        "entity_type": "marketing_campaign", "entity_id": str(recipient.campaign_id)})


def _campaign_name(ctx: ServiceContext, recipient: Recipient) -> str:
    campaign = ctx.session.get(Campaign, recipient.campaign_id)
    return campaign.name if campaign else ""


def bounce(ctx: ServiceContext, recipient: Recipient, failures: list[Failure]) -> str:
    """Apply a DSN about one of our messages: bounced (hard: suppressed), delivered, or only delayed."""
    failed = [f for f in failures if f.action == "failed"]
    if not failed:
        if any(f.action in ("delivered", "relayed", "expanded") for f in failures):
            tracking.record_event(ctx, recipient.id, "delivered")
            return "delivered"
        return "delayed"  # a warning only: the server goes on trying
    worst = next((f for f in failed if f.hard), failed[0])
    detail = f"{worst.status or '?'} {worst.recipient or recipient.address or ''} {worst.diagnostic or ''}".strip()
    if tracking.record_event(ctx, recipient.id, "bounced", detail=detail) is not None:
        kind = _("hard bounce") if worst.hard else _("soft bounce")
        _timeline(ctx, recipient, str(_("Campaign mail bounced (%(kind)s, %(status)s): %(campaign)s", kind=kind,
                                         status=worst.status or "?", campaign=_campaign_name(ctx, recipient))),
                  worst.diagnostic)
    if worst.hard and recipient.address:  # the address we sent to cannot take mail: no campaign may try again
        consent.suppress(ctx, "email", recipient.address, "bounced", recipient.customer_id)
    return "bounced"


def reply(ctx: ServiceContext, recipient: Recipient, message: EmailMessage) -> str:
    """A customer's answer to a campaign mail: on their timeline and in the campaign's results."""
    subject = " ".join(str(message.get("Subject") or "").split()) or str(_("(no subject)"))
    tracking.record_event(ctx, recipient.id, "replied", detail=subject)
    _timeline(ctx, recipient, str(_("Reply to the campaign %(campaign)s: %(subject)s",
                                    campaign=_campaign_name(ctx, recipient), subject=subject)), _text(message))
    return "campaign_reply"


def mail_received(ctx: ServiceContext, message: EmailMessage) -> str | None:
    """Claim a bounce or a reply of a campaign mail (what became of it), else None (the intake's)."""
    report = delivery_status(message)
    if report is not None:
        original, failures = report
        recipient = recipient_of(ctx, original)
        return bounce(ctx, recipient, failures) if recipient is not None else None
    ids = [str(message.get("In-Reply-To") or "")] + list(reversed(str(message.get("References") or "").split()))
    recipient = next((r for r in (recipient_of(ctx, i) for i in ids if i) if r is not None), None)
    if recipient is None:
        return None
    auto = str(message.get("Auto-Submitted") or "no").strip().lower() != "no"
    return "skipped" if auto else reply(ctx, recipient, message)  # an out-of-office is no reply


def hook_answer(ctx: ServiceContext, message: Any) -> str | None:
    """The ``crm_service_mail_received`` answer (only messages the standard library read)."""
    return mail_received(ctx, message) if isinstance(message, EmailMessage) else None
