"""The e-mail intake: one RFC 822 message becomes a new ticket or a reply on the ticket it answers.

Threading, in order: a Message-ID in In-Reply-To / References that we stored on a ticket message;
else a ticket number (``[SR-000123]``) in the subject, accepted only when the sender is the
ticket's requester or an e-mail of its customer or contacts (a number is guessable, a Message-ID is
not). The sender is matched to a contact, then a customer, by normalised e-mail address.
Auto-replies (Auto-Submitted, Precedence: bulk) are skipped so that two robots cannot loop.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.models import Contact, Customer
from crmcore.normalize import normalize_email
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import length_of

from ..models import Ticket, TicketMessage
from . import mailparse
from .tickets import create_ticket, customer_message

NUMBER = re.compile(r"\bSR-(\d{6,})\b", re.I)
MAX_RAW = 25 * 1024 * 1024


@dataclass
class IntakeResult:
    status: str  # created | replied | duplicate | skipped | what a plugin that claimed it said
    ticket: Ticket | None
    message: TicketMessage | None
    mail: mailparse.ParsedMail

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "ticket_id": getattr(self.ticket, "id", None),
                "number": getattr(self.ticket, "number", None), "message_id": self.mail.message_id,
                "customer_id": getattr(self.ticket, "customer_id", None)}


def match_sender(ctx: ServiceContext, email: str | None) -> tuple[int | None, int | None]:
    """(customer_id, contact_id) of a sender address: a contact first, then the customer's own e-mail;
    merged-away and deleted customers are never matched."""
    key = normalize_email(email)
    if not key:
        return None, None
    live = (Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))
    row = ctx.session.execute(select(Contact.customer_id, Contact.id).join(Customer, Customer.id == Contact.customer_id)
                              .where(Contact.email_normalized == key, *live).order_by(Contact.id).limit(1)).first()
    if row is not None:
        return row[0], row[1]
    cid = ctx.session.scalar(select(Customer.id).where(Customer.email_normalized == key, *live).order_by(Customer.id)
                             .limit(1))
    return cid, None


def _sender_belongs(ctx: ServiceContext, ticket: Ticket, email: str | None) -> bool:
    key = normalize_email(email)
    if not key:
        return False
    if normalize_email(ticket.requester_email) == key:
        return True
    if ticket.customer_id is None:
        return False
    if normalize_email(ticket.customer.email if ticket.customer else None) == key:
        return True
    return ctx.session.scalar(select(Contact.id).where(Contact.customer_id == ticket.customer_id,
                                                       Contact.email_normalized == key)) is not None


def find_thread(ctx: ServiceContext, mail: mailparse.ParsedMail) -> Ticket | None:
    """The ticket a message answers, or None."""
    ids = mail.thread_ids
    if ids:
        msg = ctx.session.scalar(select(TicketMessage).where(TicketMessage.message_id.in_(ids))
                                 .order_by(TicketMessage.id.desc()).limit(1))
        if msg is not None:
            return msg.ticket
    for match in NUMBER.finditer(mail.subject or ""):
        ticket = ctx.session.scalar(select(Ticket).where(or_(Ticket.number == f"SR-{match.group(1)}")))
        if ticket is not None and _sender_belongs(ctx, ticket, mail.from_email):
            return ticket
    return None


def _fit(attr: Any, value: str | None) -> str | None:
    """A header cut to its column (a mail's subject is the customer's, not input we can send back),
    its outer spaces trimmed; None when nothing is left."""
    limit = length_of(attr)
    text = (value or "").strip()
    return (text[:limit].strip() if limit else text) or None


def intake(ctx: ServiceContext, raw: bytes, *, priority: str = "normal") -> IntakeResult:
    """Turn one raw message into a ticket or a reply (as the given context, normally the system)."""
    ctx.require("service.intake")
    if len(raw) > MAX_RAW:
        raise ValidationError(_("The message is larger than %(n)s MB.", n=MAX_RAW // 1024 // 1024))
    mail = mailparse.parse(raw)
    if mail.message_id:
        known = ctx.session.scalar(select(TicketMessage).where(TicketMessage.message_id == mail.message_id))
        if known is not None:
            return IntakeResult("duplicate", known.ticket, known, mail)
    claimed = ctx.hook.crm_service_mail_received(ctx=ctx, message=mailparse.message(raw))  # bounces, replies
    if claimed:
        return IntakeResult(str(claimed), None, None, mail)
    if mail.auto_submitted:
        return IntakeResult("skipped", None, None, mail)
    if not mail.from_email:
        raise ValidationError(_("The message has no sender address."))
    message = {"body": mail.text, "from_name": mail.from_name, "from_email": mail.from_email,
               "message_id": mail.message_id, "attachments": mail.attachments, "channel": "email"}
    ticket = find_thread(ctx, mail)
    if ticket is not None:
        msg = customer_message(ctx, ticket, message, now=None)
        return IntakeResult("replied", ticket, msg, mail)
    customer_id, contact_id = match_sender(ctx, mail.from_email)
    system = ctx.runtime.context(session=ctx.session, source=ctx.source)  # the sender's customer may be anyone's
    ticket = create_ticket(system, {
        "subject": _fit(Ticket.subject, mail.subject) or str(_("(no subject)")), "description": mail.text,
        "priority": priority, "customer_id": customer_id, "contact_id": contact_id,
        "requester_name": _fit(Ticket.requester_name, mail.from_name),
        "requester_email": mail.from_email}, channel="email", first_message=message)
    return IntakeResult("created", ticket, ticket.messages[0] if ticket.messages else None, mail)
