"""Channel providers: how a campaign's messages leave (e-mail over SMTP here; SMS, WeChat... from plugins).

A provider names its channel, the SQL expression of a customer's address on it (the audience is
snapshotted with it), and sends a batch of rendered messages, answering per message. Errors of one
message do not stop the batch; a provider that is down raises :class:`ChannelDown` and the batch is
retried later with the same message ids (receivers recognise a repeated ``Message-ID``).
"""
from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any, Protocol

from sqlalchemy import func, select

from crmcore.config import setting_bool
from crmcore.models import Contact, Customer
from crmcore.runtime import ServiceContext


class ChannelDown(Exception):
    """The provider cannot send now (connection refused, throttled): retry the batch later."""


@dataclass
class Outgoing:
    """One rendered message for one recipient."""

    recipient_id: int
    address: str
    subject: str
    html: str | None
    text: str | None
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    recipient_id: int
    ok: bool
    error: str | None = None


class ChannelProvider(Protocol):
    channel: str

    def address(self) -> Any:
        """The SQL expression of a customer's normalised address on this channel (NULL: none)."""

    def configured(self, ctx: ServiceContext) -> str | None:
        """None when the provider can send, else what to set, in the reader's words."""

    def send(self, ctx: ServiceContext, messages: list[Outgoing]) -> list[Outcome]:
        """Send a batch; one outcome per message. Raise :class:`ChannelDown` when nothing can go now."""


class EmailChannel:
    """E-mail over SMTP: ``MARKETING_SMTP_HOST`` (else the service mail's ``SERVICE_SMTP_HOST``), ``_PORT``,
    ``_USER``, ``_PASSWORD``, ``_STARTTLS``; sender ``MARKETING_FROM``. One connection per batch."""

    channel = "email"

    def address(self) -> Any:
        primary = (select(Contact.email_normalized).where(Contact.customer_id == Customer.id,
                                                          Contact.email_normalized.is_not(None))
                   .order_by(Contact.is_primary.desc(), Contact.id).limit(1).scalar_subquery())
        return func.coalesce(Customer.email_normalized, primary)

    def _setting(self, ctx: ServiceContext, name: str) -> Any:
        return ctx.settings.get(f"MARKETING_SMTP_{name}") or ctx.settings.get(f"SERVICE_SMTP_{name}")

    def configured(self, ctx: ServiceContext) -> str | None:
        from crmcore.i18n import _

        if not self._setting(ctx, "HOST"):
            return str(_("Set MARKETING_SMTP_HOST (the mail server) to send e-mail."))
        if not ctx.settings.get("MARKETING_FROM"):
            return str(_("Set MARKETING_FROM (the sender's address) to send e-mail."))
        return None

    def send(self, ctx: ServiceContext, messages: list[Outgoing]) -> list[Outcome]:
        host = str(self._setting(ctx, "HOST"))
        port = int(self._setting(ctx, "PORT") or 25)
        sender = str(ctx.settings.get("MARKETING_FROM"))
        name = str(ctx.settings.get("COMPANY_NAME") or "")
        outcomes: list[Outcome] = []
        try:
            with smtplib.SMTP(host, port, timeout=30) as smtp:
                if setting_bool(ctx.settings, "MARKETING_SMTP_STARTTLS", False):
                    smtp.starttls()
                if self._setting(ctx, "USER"):
                    smtp.login(str(self._setting(ctx, "USER")), str(self._setting(ctx, "PASSWORD") or ""))
                for m in messages:
                    mail = EmailMessage()
                    mail["From"] = formataddr((name, sender)) if name else sender
                    mail["To"] = m.address
                    mail["Subject"] = m.subject
                    mail["Message-ID"] = m.message_id
                    for key, value in m.headers.items():
                        mail[key] = value
                    mail.set_content(m.text or "")
                    if m.html:
                        mail.add_alternative(m.html, subtype="html")
                    try:
                        smtp.send_message(mail)
                        outcomes.append(Outcome(m.recipient_id, True))
                    except smtplib.SMTPRecipientsRefused as exc:  # this address only
                        outcomes.append(Outcome(m.recipient_id, False, f"refused: {list(exc.recipients.values())[:1]}"))
                    except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                        outcomes.append(Outcome(m.recipient_id, False, f"{exc.smtp_code} {exc.smtp_error!r}"[:255]))
        except (OSError, smtplib.SMTPException) as exc:  # the server: the rest of the batch waits (no secret named)
            done = {o.recipient_id for o in outcomes}
            if not done:
                raise ChannelDown(f"SMTP {host}:{port}: {type(exc).__name__}") from None
            outcomes += [Outcome(m.recipient_id, False, "retry") for m in messages if m.recipient_id not in done]
        return outcomes


def providers(ctx: ServiceContext) -> dict[str, ChannelProvider]:
    """Every registered channel provider by channel (later plugins win)."""
    out: dict[str, ChannelProvider] = {}
    for result in ctx.hook.crm_marketing_channels():
        for provider in result or []:
            out[provider.channel] = provider
    return out
