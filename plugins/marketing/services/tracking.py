"""Signed tracking links: the open pixel, click redirects (only to the link the message carried: no open
redirect), and the one-click unsubscribe (RFC 8058) and preference page. Each token is signed with the
app's secret key; a changed or forged token opens nothing."""
from __future__ import annotations

import functools
import re
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from crmcore.runtime import ServiceContext
from crmcore.services.unit import unit_of_work

from ..models import MarketingEvent, Recipient

SALT = "crm-marketing-tracking"
_HREF = re.compile(r'(<a\b[^>]*?\bhref=")(https?://[^"]+)(")', re.IGNORECASE)
ONCE = ("opened", "unsubscribed", "delivered", "bounced")  # recorded once per message


def _serializer(ctx: ServiceContext) -> URLSafeSerializer:
    from crmcore.config import secret_key

    return _signer(secret_key(ctx.settings))


@functools.lru_cache(maxsize=8)
def _signer(key: str) -> URLSafeSerializer:
    """One serializer per secret key: a send signs four links per recipient (its key derivation is not free)."""
    return URLSafeSerializer(key, salt=SALT)


def token(ctx: ServiceContext, kind: str, recipient_id: int, url: str | None = None) -> str:
    return _serializer(ctx).dumps([kind, recipient_id, url] if url else [kind, recipient_id])


def read(ctx: ServiceContext, kind: str, value: str) -> tuple[int, str | None] | None:
    """``(recipient_id, url)`` of a valid token of ``kind``, else None."""
    try:
        data = _serializer(ctx).loads(value)
    except BadSignature:
        return None
    if not isinstance(data, list) or len(data) not in (2, 3) or data[0] != kind or not isinstance(data[1], int):
        return None
    return data[1], (data[2] if len(data) == 3 and isinstance(data[2], str) else None)


def base_url(ctx: ServiceContext) -> str:
    return str(ctx.settings.get("MARKETING_PUBLIC_URL") or ctx.settings.get("SERVICE_PUBLIC_URL") or "").rstrip("/")


def links(ctx: ServiceContext, recipient_id: int, customer_id: int | None = None) -> dict[str, str]:
    """The recipient's unsubscribe and preference addresses (for the template and the headers); the preference
    page is the customer's (``/m/p/<token>``), the unsubscribe link the message's."""
    base = base_url(ctx)
    unsubscribe = f"{base}/m/u/{token(ctx, 'unsubscribe', recipient_id)}"
    preferences = f"{base}/m/p/{token(ctx, 'preferences', customer_id)}" if customer_id else unsubscribe
    return {"unsubscribe_url": unsubscribe, "preferences_url": preferences}


def track_html(ctx: ServiceContext, recipient_id: int, html: str) -> str:
    """``html`` with every http(s) link sent through the click redirect and an open pixel at the end."""
    base = base_url(ctx)
    if not base:
        return html

    def swap(match: re.Match[str]) -> str:
        url = match.group(2).replace("&amp;", "&")
        if url.startswith(f"{base}/m/"):
            return match.group(0)
        return f"{match.group(1)}{base}/m/c/{token(ctx, 'click', recipient_id, url)}{match.group(3)}"

    pixel = f'<img src="{base}/m/o/{token(ctx, "open", recipient_id)}.gif" width="1" height="1" alt="">'
    return _HREF.sub(swap, html) + pixel


def record_event(ctx: ServiceContext, recipient_id: int, kind: str, url: str | None = None,
                 detail: str | None = None) -> MarketingEvent | None:
    """Record what a message did (first open, each click, ...); None for an unknown recipient or a repeat."""
    recipient = ctx.session.get(Recipient, recipient_id)
    if recipient is None:
        return None
    if kind in ONCE and ctx.session.scalar(select(MarketingEvent.id).where(
            MarketingEvent.recipient_id == recipient_id, MarketingEvent.kind == kind)) is not None:
        return None
    with unit_of_work(ctx):
        event = MarketingEvent(campaign_id=recipient.campaign_id, recipient_id=recipient.id,
                               customer_id=recipient.customer_id, kind=kind, url=(url or None) and url[:2000],
                               detail=(detail or None) and detail[:255])
        ctx.session.add(event)
    return event


def recipient_of(ctx: ServiceContext, recipient_id: int) -> Any:
    return ctx.session.get(Recipient, recipient_id)
