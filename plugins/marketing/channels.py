"""E-mail over SMTP, the marketing plugin's channel provider (the interface is :mod:`crmcore.channels`)."""
from __future__ import annotations

import email.policy
import smtplib
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from sqlalchemy import func, select

from crmcore.channels import ChannelDown, ChannelProvider, Outcome, Outgoing, providers
from crmcore.config import setting_bool
from crmcore.models import Contact, Customer
from crmcore.runtime import ServiceContext

__all__ = ["ChannelDown", "ChannelProvider", "EmailChannel", "Outcome", "Outgoing", "providers"]


class _Headers(HeaderRegistry):
    """The standard header classes, each made once: the stock registry makes a new class for every header of
    every message (a third of the time spent building a message)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        key = name.lower()
        if key not in self._made:
            self._made[key] = super().__getitem__(name)
        return self._made[key]


_POLICY = email.policy.default.clone(header_factory=_Headers())


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
        sender = formataddr((name, sender)) if name else sender
        outcomes: list[Outcome] = []
        try:
            with smtplib.SMTP(host, port, timeout=30) as smtp:
                if setting_bool(ctx.settings, "MARKETING_SMTP_STARTTLS", False):
                    smtp.starttls()
                if self._setting(ctx, "USER"):
                    smtp.login(str(self._setting(ctx, "USER")), str(self._setting(ctx, "PASSWORD") or ""))
                for m in messages:
                    mail = EmailMessage(policy=_POLICY)
                    mail["From"] = sender
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
