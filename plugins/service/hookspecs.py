"""Hook specifications the service plugin owns; other plugins (marketing) implement them.

Added to the plugin manager when the service plugin registers (its ``CRM_HOOKSPECS``). A plugin that
implements one of these without requiring ``service`` marks the impl ``optionalhook=True``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from crmcore import hookspec

if TYPE_CHECKING:  # real types for readers, not imported at run time
    from email.message import EmailMessage

    from crmcore.runtime import ServiceContext

# ---------------------------------------------------------------------------
# E-mail intake
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crm_service_mail_received(ctx: ServiceContext, message: EmailMessage) -> str | None:
    """Claim an incoming e-mail before the intake threads it into a ticket (a bounce, a reply to a campaign).

    Called by the e-mail intake (``crm service fetch-mail``, ``POST /api/v1/service/intake``) for each
    message that is not a duplicate, before auto-replies are skipped (a delivery status notification is
    one). A message claimed by a plugin makes no ticket. Stops at first non-None result.

    :param ctx: the intake's ``ServiceContext`` (normally the system).
    :param message: the message parsed by the standard library (``email.policy.default``).
    :return: what became of it (e.g. ``"bounced"``, ``"campaign_reply"``), or None to leave it to the intake.
    """
