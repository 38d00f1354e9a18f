"""``crm check`` for the service plugin: the mail server that sends replies, surveys and portal links answers."""
from __future__ import annotations

import smtplib

from crmcore.config import setting_bool
from crmcore.contracts import Check, Finding
from crmcore.i18n import _
from crmcore.runtime import ServiceContext


def check_mail(ctx: ServiceContext) -> list[Finding]:
    """Connect to ``SERVICE_SMTP_HOST`` and greet it (STARTTLS when configured); no mail is sent."""
    host = str(ctx.settings.get("SERVICE_SMTP_HOST") or "").strip()
    if not host:
        return [Finding("warning", "mail", str(_("No mail server is set (SERVICE_SMTP_HOST): ticket replies, "
                                                 "surveys and portal links are not e-mailed.")))]
    port = int(ctx.settings.get("SERVICE_SMTP_PORT") or 25)
    try:
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.ehlo()
            if setting_bool(ctx.settings, "SERVICE_SMTP_STARTTLS", False):
                smtp.starttls()
            smtp.noop()
    except (OSError, smtplib.SMTPException) as exc:  # the reason names the host, never the password
        return [Finding("error", "mail", str(_("The mail server %(host)s:%(port)s cannot be reached: %(reason)s",
                                               host=host, port=port, reason=f"{type(exc).__name__}: {exc}"[:300])))]
    return [Finding("ok", "mail", str(_("The mail server %(host)s:%(port)s answers.", host=host, port=port)))]


CHECKS = [Check("service.mail", check_mail, "The mail server answers")]
