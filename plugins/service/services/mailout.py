"""Outgoing e-mail through the outbox: agents' public replies go to the customer with the
Message-ID stored on the reply (so the customer's answer threads back onto the ticket) and
In-Reply-To / References of the conversation; survey invitations carry their link; a request from
the portal (or a link an agent re-issues) sends the customer their private status link, in the
language of their request; a portal requester first gets a link to confirm their address.

Delivered by the outbox handler ``service.mail`` (at least once, retried with backoff). Off until
``SERVICE_SMTP_HOST`` is set; the SMTP password is read from the settings and never logged.
"""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from sqlalchemy import select

from crmcore.config import setting_bool
from crmcore.contracts import OutboxHandler
from crmcore.errors import RetriableAdapterError
from crmcore.models import Contact
from crmcore.runtime import ServiceContext
from crmcore.translator import translator

from ..models import Survey, Ticket, TicketMessage

log = logging.getLogger(__name__)
TOPICS = ("service.ticket.replied", "service.survey.created", "service.ticket.link_issued")
def recipient(ctx: ServiceContext, ticket: Ticket | None, customer_id: int | None) -> str | None:
    """Where to write: the ticket's requester, its contact, else the customer's e-mail."""
    if ticket is not None and ticket.requester_email:
        return ticket.requester_email
    if ticket is not None and ticket.contact_id:
        contact = ctx.session.get(Contact, ticket.contact_id)
        if contact is not None and contact.email:
            return contact.email
    cid = ticket.customer_id if ticket is not None else customer_id
    if cid is None:
        return None
    from crmcore.models import Customer

    customer = ctx.session.get(Customer, cid)
    if customer is not None and customer.email:
        return customer.email
    return ctx.session.scalar(select(Contact.email).where(Contact.customer_id == cid, Contact.email.is_not(None))
                              .order_by(Contact.is_primary.desc(), Contact.id).limit(1))


def _sender(ctx: ServiceContext) -> str:
    domain = str(ctx.settings.get("SERVICE_MAIL_DOMAIN") or "crm.invalid")
    return str(ctx.settings.get("SERVICE_MAIL_FROM") or f"service@{domain}")


def reply_mail(ctx: ServiceContext, msg: TicketMessage) -> EmailMessage | None:
    """The e-mail of an agent's public reply, or None (internal note, no address)."""
    if msg.internal or msg.author != "agent":
        return None
    ticket = msg.ticket
    to = recipient(ctx, ticket, None)
    if not to:
        return None
    gettext = translator(ctx, ticket.customer_locale)  # the customer's language, not the server's
    earlier = [m.message_id for m in ticket.messages if m.id < msg.id and m.message_id and not m.internal]
    customer_ids = [m.message_id for m in ticket.messages if m.id < msg.id and m.message_id and m.author == "customer"]
    mail = EmailMessage()
    mail["From"] = formataddr((gettext("Customer service"), _sender(ctx)))
    mail["To"] = formataddr((ticket.requester_name or "", to))
    mail["Subject"] = f"[{ticket.number}] {ticket.subject}"
    mail["Date"] = format_datetime(msg.created_at)
    mail["Message-ID"] = msg.message_id
    if customer_ids or earlier:
        mail["In-Reply-To"] = (customer_ids or earlier)[-1]
        mail["References"] = " ".join(earlier[-20:])
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(msg.body)
    mail["Content-Language"] = _content_language(ticket.customer_locale)
    return mail


def survey_mail(ctx: ServiceContext, survey: Survey) -> EmailMessage | None:
    """The invitation to a CSAT or NPS survey, or None (no address or no ``SERVICE_PUBLIC_URL``)."""
    from .surveys import token_for

    base = str(ctx.settings.get("SERVICE_PUBLIC_URL") or "").rstrip("/")
    ticket = ctx.session.get(Ticket, survey.ticket_id) if survey.ticket_id else None
    to = recipient(ctx, ticket, survey.customer_id)
    if not base or not to:
        return None
    link = f"{base}/service/survey/{token_for(ctx, survey)}"
    locale = ticket.customer_locale if ticket is not None else None
    gettext = translator(ctx, locale)  # the customer's language, not the server's
    question = gettext("How likely are you to recommend us to a friend or colleague?") if survey.kind == "nps" \
        else gettext("How satisfied are you with how we handled your request?")
    mail = EmailMessage()
    mail["From"] = formataddr((gettext("Customer service"), _sender(ctx)))
    mail["To"] = to
    mail["Subject"] = (f"[{ticket.number}] " if ticket else "") + gettext("Your opinion")
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(f"{question}\n\n{link}\n")
    mail["Content-Language"] = _content_language(locale)
    return mail


def link_mail(ctx: ServiceContext, ticket: Ticket, issue: str | None, reason: str, locale: str | None,
              confirm: str | None = None) -> EmailMessage | None:
    """The requester's links: while their address is unconfirmed, the confirmation link only (the
    status link is then shown in their browser and replaced on confirmation); afterwards the private
    status link. None: no address, no ``SERVICE_PUBLIC_URL``, or newer links replaced these."""
    from .portal import awaiting_confirmation, confirm_hours, confirm_token_for_issue, token_for_issue

    base = str(ctx.settings.get("SERVICE_PUBLIC_URL") or "").rstrip("/")
    to = recipient(ctx, ticket, None)
    pending = awaiting_confirmation(ticket)
    confirm_token = confirm_token_for_issue(ctx, ticket, confirm) if confirm and pending else None
    token = token_for_issue(ctx, ticket, issue) if issue and not pending else None
    if not base or not to or not (token or confirm_token):
        return None
    gettext = translator(ctx, locale)  # (named so that the catalogue extraction finds the strings)
    if confirm_token and reason == "reissued":
        reason = "confirm"  # unconfirmed: the new confirmation link is all the mail carries
    if reason == "reissued":
        intro = gettext("Here is a new link to follow your request %(number)s (%(subject)s). Earlier links "
                        "no longer work.", number=ticket.number, subject=ticket.subject)
    elif reason == "confirmed":
        intro = gettext("Your e-mail address is confirmed for your request %(number)s (%(subject)s).",
                        number=ticket.number, subject=ticket.subject)
    elif reason == "confirm":
        intro = gettext("Here is a new link to confirm your e-mail address for your request %(number)s "
                        "(%(subject)s). Earlier links no longer work.", number=ticket.number, subject=ticket.subject)
    else:
        intro = gettext("Thank you, we have your request %(number)s (%(subject)s).", number=ticket.number,
                        subject=ticket.subject)
    parts = [intro]
    if confirm_token:
        hours = f"{confirm_hours(ctx):g}"
        parts += [gettext("Please confirm that this is your e-mail address: open this link within %(hours)s hours "
                          "and press the button. Our answers appear on your request's page after that. If you did "
                          "not send this request, ignore this message.", hours=hours),
                  f"{base}/service/portal/confirm/{confirm_token}"]
    if token:
        parts += [gettext("Follow your request and answer us with this private link. Anyone with the link can "
                          "read the request, so do not forward this message."), f"{base}/service/portal/t/{token}"]
    mail = EmailMessage()
    mail["From"] = formataddr((gettext("Customer service"), _sender(ctx)))
    mail["To"] = formataddr((ticket.requester_name or "", to))
    mail["Subject"] = f"[{ticket.number}] " + gettext("Your service request")
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content("\n\n".join(parts) + "\n")  # (set_content drops Content-* headers set before)
    mail["Content-Language"] = _content_language(locale)
    return mail


def _content_language(locale: str | None) -> str:
    return "zh-CN" if (locale or "").startswith("zh") else "en"


def send(ctx: ServiceContext, mail: EmailMessage) -> None:
    """Hand one message to the configured SMTP server (STARTTLS and login when configured)."""
    host = str(ctx.settings["SERVICE_SMTP_HOST"])
    port = int(ctx.settings.get("SERVICE_SMTP_PORT") or 25)
    try:
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            if setting_bool(ctx.settings, "SERVICE_SMTP_STARTTLS", False):
                smtp.starttls()
            if ctx.settings.get("SERVICE_SMTP_USER"):
                smtp.login(str(ctx.settings["SERVICE_SMTP_USER"]), str(ctx.settings.get("SERVICE_SMTP_PASSWORD") or ""))
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:  # retried by the outbox; the message names no secret
        raise RetriableAdapterError(f"SMTP {host}:{port} failed: {type(exc).__name__}: {exc}") from None


def deliver(ctx: ServiceContext, message: Any) -> None:
    """The outbox handler: build the mail of the event and send it (nothing when mail is off)."""
    if not ctx.settings.get("SERVICE_SMTP_HOST"):
        return
    payload = message.payload or {}
    entity_id = payload.get("entity_id")
    mail = None
    if message.topic == "service.ticket.replied":
        msg = ctx.session.get(TicketMessage, entity_id)
        mail = reply_mail(ctx, msg) if msg is not None else None
    elif message.topic == "service.survey.created":
        survey = ctx.session.get(Survey, entity_id)
        mail = survey_mail(ctx, survey) if survey is not None and survey.answered_at is None else None
    elif message.topic == "service.ticket.link_issued":  # the link as it is now (a newer one may replace it)
        ticket = ctx.session.get(Ticket, entity_id, populate_existing=True)
        data = payload.get("data") or {}
        mail = link_mail(ctx, ticket, data.get("issue"), str(data.get("reason") or ""), data.get("locale"),
                         data.get("confirm")) if ticket is not None else None
    if mail is None:
        log.info("service mail: nothing to send for %s %s", message.topic, entity_id)
        return
    send(ctx, mail)


def mail_is_on(ctx: ServiceContext) -> bool:
    """Whether the destination ``service.mail`` exists: a mail server is configured (asked when writing)."""
    return bool(ctx.settings.get("SERVICE_SMTP_HOST"))


HANDLER = OutboxHandler("service.mail", TOPICS, deliver, max_attempts=8, active=mail_is_on)
