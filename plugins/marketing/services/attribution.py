"""Which campaign an order is owed to: the orders (not cancelled) of customers sent a marketing message
within ``window_days`` before the order date, credited to the last message before it (last touch) and to
the first (first touch), across every marketing campaign, with revenue in the base currency.

The campaign's candidate orders are read with two bounded queries (its recipients' orders dated within its
send period plus the window; their touches by every campaign in that span); the crediting is done on those
rows. Days are calendar days in UTC: a message sent on the day of the order counts as before it."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from crmcore.runtime import ServiceContext

from ..models import Campaign, Recipient

SENT = Recipient.status == "sent"


def _sends(campaign_id: int) -> Any:
    return select(Recipient.customer_id).where(Recipient.campaign_id == campaign_id, SENT)


def attribute(ctx: ServiceContext, campaign_id: int, window_days: int) -> dict[str, Any]:
    """Orders and revenue credited to the campaign by last touch and by first touch."""
    from plugins.sales.models import Order
    from plugins.sales.services.money import base_currency, converted

    base = base_currency(ctx)
    out: dict[str, Any] = {"window_days": window_days, "currency": base,
                           "last_touch": {"orders": 0, "revenue": "0.00"},
                           "first_touch": {"orders": 0, "revenue": "0.00"}}
    first_sent, last_sent = ctx.session.execute(select(func.min(Recipient.sent_at), func.max(Recipient.sent_at))
                                                .where(Recipient.campaign_id == campaign_id, SENT)).one()
    if first_sent is None:
        return out
    window = dt.timedelta(days=window_days)
    start, end = first_sent.date(), last_sent.date() + window
    orders = ctx.session.execute(select(Order.id, Order.customer_id, Order.order_date,
                                        converted(ctx, Order.total, Order.currency, base))
                                 .where(Order.customer_id.in_(_sends(campaign_id)), Order.status != "cancelled",
                                        Order.order_date >= start, Order.order_date <= end)).all()
    if not orders:
        return out
    since = dt.datetime.combine(start - window, dt.time.min, tzinfo=dt.timezone.utc)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.timezone.utc)
    touches: dict[int, list[tuple[dt.datetime, int, int]]] = {}
    for customer_id, sent_at, rid, cid in ctx.session.execute(
            select(Recipient.customer_id, Recipient.sent_at, Recipient.id, Recipient.campaign_id)
            .join(Campaign, Campaign.id == Recipient.campaign_id)
            .where(Recipient.customer_id.in_(_sends(campaign_id)), SENT, Campaign.purpose == "marketing",
                   Recipient.sent_at >= since, Recipient.sent_at < until)):
        touches.setdefault(customer_id, []).append((sent_at, rid, cid))
    totals = {"last_touch": [0, Decimal(0)], "first_touch": [0, Decimal(0)]}
    for _oid, customer_id, order_date, amount in orders:
        before = sorted(t for t in touches.get(customer_id, ())
                        if t[0].date() <= order_date <= t[0].date() + window)
        if not before:
            continue
        for key, touch in (("first_touch", before[0]), ("last_touch", before[-1])):
            if touch[2] == campaign_id:
                totals[key][0] += 1
                totals[key][1] += Decimal(str(amount or 0))
    for key, (n, revenue) in totals.items():
        out[key] = {"orders": n, "revenue": str(Decimal(revenue).quantize(Decimal("0.01")))}
    return out
