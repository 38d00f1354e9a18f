"""Double opt-in for e-mail (``MARKETING_DOUBLE_OPT_IN``): a grant waits as ``pending`` until the customer
follows the signed, expiring link mailed to the address; only then is it a grant that sends may count."""
from __future__ import annotations

import hashlib
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from crmcore.channels import ChannelDown, Outgoing, providers
from crmcore.config import setting_bool, setting_int
from crmcore.errors import RetriableAdapterError, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services.unit import unit_of_work

from ..models import Consent
from . import tracking

SALT = "crm-marketing-double-opt-in"
CONFIRMED_BY = "double_opt_in"
# the preference page is reached from a link mailed to the address: the address is confirmed already
NO_CONFIRMATION = (CONFIRMED_BY, "preference_page")


def enabled(ctx: ServiceContext) -> bool:
    return setting_bool(ctx.settings, "MARKETING_DOUBLE_OPT_IN", False)


def hours(ctx: ServiceContext) -> int:
    """How long a confirmation link works (``MARKETING_DOUBLE_OPT_IN_HOURS``, default 72)."""
    return setting_int(ctx.settings, "MARKETING_DOUBLE_OPT_IN_HOURS", 72, minimum=1)


def address_to_confirm(ctx: ServiceContext, customer_id: int, values: dict[str, Any]) -> str | None:
    """The address to mail a confirmation link to when this statement is an e-mail grant that needs one
    (None: it counts as stated). Refused, with the reason, when the link cannot be sent."""
    if not (enabled(ctx) and values.get("channel") == "email" and values.get("status") == "granted"
            and values.get("source") not in NO_CONFIRMATION):
        return None
    provider = providers(ctx).get("email")
    if provider is None or (problem := provider.configured(ctx)):
        message = _("Double opt-in is on but no e-mail can be sent: %(problem)s",
                    problem=problem if provider is not None else _("No provider."))
        raise ValidationError(message, errors={"channel": [message]})
    if not tracking.base_url(ctx):
        message = _("Double opt-in is on: set MARKETING_PUBLIC_URL so that the confirmation link can be opened.")
        raise ValidationError(message, errors={"channel": [message]})
    address = ctx.session.scalar(select(provider.address()).where(Customer.id == customer_id))
    if not address:
        message = _("The customer has no e-mail address to confirm the consent at.")
        raise ValidationError(message, errors={"channel": [message]})
    return str(address)


def _serializer(ctx: ServiceContext) -> URLSafeTimedSerializer:
    from crmcore.config import secret_key

    return URLSafeTimedSerializer(secret_key(ctx.settings), salt=SALT)


def confirm_url(ctx: ServiceContext, consent_id: int) -> str:
    return f"{tracking.base_url(ctx)}/m/confirm/{_serializer(ctx).dumps(consent_id)}"


def read_token(ctx: ServiceContext, token: str) -> tuple[str, int | None]:
    """``("ok", consent_id)``, ``("expired", None)`` or ``("bad", None)`` for a confirmation token."""
    try:
        value = _serializer(ctx).loads(token, max_age=hours(ctx) * 3600)
    except SignatureExpired:
        return "expired", None
    except BadSignature:
        return "bad", None
    return ("ok", value) if isinstance(value, int) and not isinstance(value, bool) else ("bad", None)


def send_confirmation(ctx: ServiceContext, row: Consent, address: str) -> None:
    """Mail the confirmation link of a pending grant, quoting what the customer is agreeing to."""
    url = confirm_url(ctx, row.id)
    company = str(ctx.settings.get("COMPANY_NAME") or "")
    text = "\n\n".join([
        str(_("Please confirm that you want to receive our messages by e-mail.")),
        str(_("You agree to: %(text)s", text=row.text or "")),
        str(_("Confirm: %(url)s", url=url)),
        str(_("The link works for %(hours)s hours. If you did not ask for this, ignore this message.",
              hours=hours(ctx)))])
    digest = hashlib.sha256(f"{ctx.settings.get('SECRET_KEY')}:optin:{row.id}".encode()).hexdigest()[:24]
    domain = str(ctx.settings.get("MARKETING_FROM") or "crm.invalid").rpartition("@")[2] or "crm.invalid"
    message = Outgoing(0, address, str(_("Confirm your subscription%(to)s", to=f" · {company}" if company else "")),
                       None, text, f"<optin{row.id}.{digest}@{domain}>", {"Auto-Submitted": "auto-generated"})
    try:
        outcome = providers(ctx)["email"].send(ctx, [message])
    except ChannelDown as exc:
        raise RetriableAdapterError(_("The mail server cannot be reached: nothing was recorded; try again.")) from exc
    if not outcome or not outcome[0].ok:
        message_text = _("The confirmation mail was refused: %(error)s", error=outcome[0].error if outcome else "")
        raise ValidationError(message_text, errors={"channel": [message_text]})


def pending(ctx: ServiceContext, consent_id: int) -> Consent | None:
    """The pending grant of a confirmation link, while nothing has been stated after it; else None."""
    row = ctx.session.get(Consent, consent_id)
    if row is None or row.status != "pending" or _stated_after(ctx, row) is not None:
        return None
    return row


def _stated_after(ctx: ServiceContext, row: Consent) -> Consent | None:
    return ctx.session.scalar(select(Consent).where(
        Consent.customer_id == row.customer_id, Consent.channel == row.channel, Consent.purpose == row.purpose,
        Consent.id > row.id, Consent.status != "pending").order_by(Consent.id).limit(1))


def confirm(ctx: ServiceContext, consent_id: int) -> Consent | None:
    """Follow a confirmation link: the pending grant becomes a grant (source ``double_opt_in``, the same text).
    Following it again changes nothing; a link whose grant was withdrawn or superseded since confirms nothing
    (None)."""
    row = ctx.session.get(Consent, consent_id)
    if row is None or row.status != "pending":
        return None
    later = _stated_after(ctx, row)
    if later is not None:
        return later if later.status == "granted" and later.source == CONFIRMED_BY else None
    with unit_of_work(ctx):
        grant = Consent(customer_id=row.customer_id, channel=row.channel, purpose=row.purpose, status="granted",
                        source=CONFIRMED_BY, text=row.text)
        ctx.session.add(grant)
        ctx.session.flush()
        record_change(ctx, "marketing_consent", "granted", grant.id,
                      {"channel": [None, row.channel], "purpose": [None, row.purpose]},
                      data={"customer_id": row.customer_id, "confirms": row.id})
    return grant
