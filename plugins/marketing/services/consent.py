"""Consent per channel and purpose, kept as evidence, and the suppression list no send can bypass.

A customer may be sent marketing on a channel only with a *granted* latest consent for that channel and
purpose and an address that is not suppressed. Withdrawing (an unsubscribe, the preference page, an
agent) writes a new row: the history stays, as PIPL asks (what was agreed, where, when)."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import Select, exists, select
from sqlalchemy.orm import aliased
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crmcore.errors import NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.normalize import normalize_email
from crmcore.runtime import ServiceContext
from crmcore.services.customers import get_customer
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load

from ..models import CHANNELS, CONSENT_SOURCES, CONSENT_STATES, PURPOSES, SUPPRESSION_REASONS, Consent, Suppression

TEXT_MAX = 5000
STATEMENTS = tuple(s for s in CONSENT_STATES if s != "pending")  # what a caller states; pending is ours


class ConsentSchema(Schema):
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    purpose = fields.Str(load_default="marketing", validate=validate.OneOf(PURPOSES))
    status = fields.Str(required=True, validate=validate.OneOf(STATEMENTS))
    source = fields.Str(load_default="api", validate=validate.OneOf(CONSENT_SOURCES))
    text = fields.Str(allow_none=True, validate=validate.Length(max=TEXT_MAX))


_SCHEMA = ConsentSchema()


def validate_consent(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """A consent statement checked by ``ConsentSchema``; a grant must say what the customer agreed to."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        if values.get("status") == "granted" and not (values.get("text") or "").strip():
            return {"text": [_("Say what the customer agreed to (the text they were shown).")]}
        return {}

    return load(_SCHEMA, data, partial=False, message=_("The consent is not valid."), check=check)


def record(ctx: ServiceContext, customer_id: int, data: dict[str, Any]) -> Consent:
    """Record a consent statement for a customer (the latest per channel and purpose counts)."""
    ctx.require("marketing.consent.write")
    customer = get_customer(ctx, customer_id)  # 404 unknown, 403 outside the actor's scope
    if customer.deleted_at is not None or customer.merged_into_id is not None:
        raise NotFound(_("Customer %(id)s does not exist.", id=customer_id))
    values = validate_consent(ctx, data)
    from . import optin

    address = optin.address_to_confirm(ctx, customer_id, values)  # a grant awaiting its double opt-in
    if address is not None:
        values["status"] = "pending"
    with unit_of_work(ctx):
        row = Consent(customer_id=customer_id, recorded_by_id=ctx.actor.id if ctx.actor else None, **values)
        ctx.session.add(row)
        ctx.session.flush()
        record_change(ctx, "marketing_consent", values["status"], row.id,
                      {"channel": [None, values["channel"]], "purpose": [None, values["purpose"]]},
                      data={"customer_id": customer_id})
        if address is not None:  # mailed before the commit: a mail server that is down records nothing
            optin.send_confirmation(ctx, row, address)
    return row


def history(ctx: ServiceContext, customer_id: int) -> list[Consent]:
    """Every consent statement of a customer, newest first (for readers of marketing or of the customer who
    record consents)."""
    if not ctx.can("marketing.read"):
        ctx.require("marketing.consent.write")
    get_customer(ctx, customer_id)
    return list(ctx.session.scalars(select(Consent).where(Consent.customer_id == customer_id)
                                    .order_by(Consent.id.desc())))


def latest_status(ctx: ServiceContext, customer_id: int, channel: str, purpose: str = "marketing") -> str | None:
    """``granted``, ``withdrawn`` or None (never asked) for one customer, channel and purpose; a grant still
    awaiting its double opt-in is ``pending`` only while nothing was stated before it (it changes nothing)."""
    stated = ctx.session.scalar(select(Consent.status).where(
        Consent.customer_id == customer_id, Consent.channel == channel, Consent.purpose == purpose,
        Consent.status != "pending").order_by(Consent.id.desc()).limit(1))
    if stated is not None:
        return stated
    return ctx.session.scalar(select(Consent.status).where(
        Consent.customer_id == customer_id, Consent.channel == channel, Consent.purpose == purpose).limit(1))


def granted_clause(customer_id: Any, channel: str, purpose: str) -> Any:
    """SQL: the latest consent of ``customer_id`` (a column) for ``channel`` and ``purpose`` is a grant
    (a grant with no later statement; both lookups use the index on customer, channel, purpose, id). A grant
    awaiting its double opt-in (``pending``) is no grant and does not undo an earlier one."""
    later = aliased(Consent)
    grant = aliased(Consent)
    return exists().where(grant.customer_id == customer_id, grant.channel == channel, grant.purpose == purpose,
                          grant.status == "granted",
                          ~exists().where(later.customer_id == grant.customer_id, later.channel == channel,
                                          later.purpose == purpose, later.id > grant.id,
                                          later.status != "pending"))


def not_suppressed_clause(channel: str, address: Any) -> Any:
    """SQL: ``address`` (a normalised expression) is not on the suppression list of ``channel``."""
    return ~exists().where(Suppression.channel == channel, Suppression.address == address)


def suppress(ctx: ServiceContext, channel: str, address: str, reason: str, customer_id: int | None = None) -> None:
    """Put an address on the suppression list (idempotent: an address listed once stays listed)."""
    if channel not in CHANNELS or reason not in SUPPRESSION_REASONS:
        raise ValueError(f"unknown channel or reason: {channel}, {reason}")
    key = normalize_email(address) if channel == "email" else address.strip()
    if not key:
        return
    values = {"channel": channel, "address": key[:255], "reason": reason, "customer_id": customer_id}
    insert = pg_insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    with unit_of_work(ctx):
        ctx.session.execute(insert(Suppression).values(**values).on_conflict_do_nothing(
            index_elements=["channel", "address"]))


def is_suppressed(ctx: ServiceContext, channel: str, address: str | None) -> bool:
    key = normalize_email(address) if channel == "email" else (address or "").strip()
    return bool(key) and ctx.session.scalar(
        select(Suppression.id).where(Suppression.channel == channel, Suppression.address == key)) is not None


def suppressed_among(ctx: ServiceContext, channel: str, addresses: list[str]) -> set[str]:
    """Which of ``addresses`` (already normalised) are on the suppression list of ``channel``, in one query."""
    if not addresses:
        return set()
    return set(ctx.session.scalars(select(Suppression.address).where(Suppression.channel == channel,
                                                                     Suppression.address.in_(set(addresses)))))


def reachable(stmt: Select[Any], customer_id: Any, channel: str, purpose: str, address: Any) -> Select[Any]:
    """``stmt`` narrowed to customers who may be sent ``purpose`` messages on ``channel`` at ``address``."""
    return stmt.where(address.is_not(None), granted_clause(customer_id, channel, purpose),
                      not_suppressed_clause(channel, address))


# ---- pressure: frequency caps and quiet hours -------------------------------------------------------

def frequency_cap(ctx: ServiceContext) -> tuple[int, int]:
    """``(messages, days)``: at most that many marketing messages per customer per that many days, across
    campaigns (``MARKETING_FREQUENCY_CAP``, ``MARKETING_FREQUENCY_DAYS``; a cap of 0 is none)."""
    from crmcore.config import setting_int

    return (setting_int(ctx.settings, "MARKETING_FREQUENCY_CAP", 0),
            setting_int(ctx.settings, "MARKETING_FREQUENCY_DAYS", 7, minimum=1))


def under_cap_clause(ctx: ServiceContext, customer_id: Any, channel: str, exclude_campaign: int | None = None) -> Any:
    """SQL: the customer has had fewer marketing messages than the cap in the period (sent, or on their way)."""
    import datetime as dt

    from sqlalchemy import func, or_, true

    from crmcore.db import utcnow

    from ..models import Campaign, Recipient

    cap, days = frequency_cap(ctx)
    if cap <= 0:
        return true()
    since = utcnow() - dt.timedelta(days=days)
    recent = (select(func.count(Recipient.id)).join(Campaign, Campaign.id == Recipient.campaign_id)
              .where(Recipient.customer_id == customer_id, Campaign.purpose == "marketing",
                     Campaign.channel == channel, Campaign.id != (exclude_campaign or 0),
                     or_(Recipient.sent_at >= since, Recipient.status.in_(("pending", "sending"))))
              .scalar_subquery())
    return recent < cap


def quiet_now(ctx: ServiceContext, now: Any = None) -> bool:
    """True inside the quiet hours (``MARKETING_QUIET_HOURS`` as ``21:00-08:00``, in ``MARKETING_TIMEZONE``,
    else the default time zone): no marketing message leaves then. Unset: never quiet."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from crmcore.db import utcnow
    from crmcore.errors import ConfigError

    raw = str(ctx.settings.get("MARKETING_QUIET_HOURS") or "").strip()
    if not raw:
        return False
    try:
        start_s, end_s = (part.strip() for part in raw.split("-"))
        start, end = dt.time.fromisoformat(start_s), dt.time.fromisoformat(end_s)
        zone = ZoneInfo(str(ctx.settings.get("MARKETING_TIMEZONE") or ctx.settings.get("DEFAULT_TIMEZONE") or "UTC"))
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"Setting CRM_MARKETING_QUIET_HOURS must look like 21:00-08:00, not {raw!r}") from exc
    local = (now or utcnow()).astimezone(zone).time()
    return (start <= local or local < end) if start > end else (start <= local < end)
