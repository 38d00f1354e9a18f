"""A campaign's results: the funnel (sent, opened, clicked, unsubscribed, failed) and the conversions it
caused, measured against its held-out control group.

Conversion: a recipient (sent) or a control-group customer (held out) with a sales order (not cancelled)
dated within ``window_days`` after the campaign started; revenue in the base currency. The lift is the
difference of the two conversion rates with a 95% confidence interval (normal approximation for the
difference of two proportions: ``p1 - p2 ± 1.96 * sqrt(p1(1-p1)/n1 + p2(1-p2)/n2)``); with fewer than 30
customers in either group the interval is not given (``null``) and the report says why."""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from sqlalchemy import distinct, func, select

from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from ..models import MarketingEvent, Recipient
from . import abtest, campaigns

WINDOW_DAYS = 14
MIN_GROUP = 30


def _conversions(ctx: ServiceContext, campaign_id: int, status: str, start: dt.date, end: dt.date) -> tuple[int, Any]:
    from plugins.sales.models import Order
    from plugins.sales.services.money import base_currency, converted

    who = select(Recipient.customer_id).where(Recipient.campaign_id == campaign_id, Recipient.status == status)
    row = ctx.session.execute(select(func.count(distinct(Order.customer_id)),
                                     func.sum(converted(ctx, Order.total, Order.currency, base_currency(ctx))))
                              .where(Order.customer_id.in_(who), Order.status != "cancelled",
                                     Order.order_date >= start, Order.order_date <= end)).one()
    return int(row[0] or 0), row[1]


def _money(value: Any) -> str:
    return str(Decimal(str(value or 0)).quantize(Decimal("0.01")))


def _base(ctx: ServiceContext) -> str:
    from plugins.sales.services.money import base_currency

    return base_currency(ctx)


def lift(converted_a: int, n_a: int, converted_b: int, n_b: int) -> dict[str, Any]:
    """Rates of the treated (a) and control (b) groups, their difference and its 95% interval."""
    rate_a = converted_a / n_a if n_a else None
    rate_b = converted_b / n_b if n_b else None
    out: dict[str, Any] = {"rate_sent": rate_a, "rate_control": rate_b, "lift": None, "interval": None,
                           "note": None}
    if rate_a is None or rate_b is None:
        out["note"] = str(_("No control group: the lift cannot be measured.") if not n_b else _("Nothing was sent yet."))
        return out
    out["lift"] = rate_a - rate_b
    if min(n_a, n_b) < MIN_GROUP:
        out["note"] = str(_("Fewer than %(n)s customers in a group: no confidence interval.", n=MIN_GROUP))
        return out
    se = math.sqrt(rate_a * (1 - rate_a) / n_a + rate_b * (1 - rate_b) / n_b)
    out["interval"] = [rate_a - rate_b - 1.96 * se, rate_a - rate_b + 1.96 * se]
    return out


def report(ctx: ServiceContext, campaign_id: int, window_days: int = WINDOW_DAYS) -> dict[str, Any]:
    campaign = campaigns.get_campaign(ctx, campaign_id)
    counts = campaigns.counts(ctx, campaign.id)
    events = dict(ctx.session.execute(select(MarketingEvent.kind, func.count(distinct(MarketingEvent.recipient_id)))
                                      .where(MarketingEvent.campaign_id == campaign.id)
                                      .group_by(MarketingEvent.kind)).all())
    funnel = {"audience": sum(counts.values()), "held_out": counts.get("held_out", 0),
              "waiting": counts.get("waiting", 0), "sent": counts.get("sent", 0),
              "failed": counts.get("failed", 0), "delivered": int(events.get("delivered", 0)), "opened": int(events.get("opened", 0)),
              "clicked": int(events.get("clicked", 0)), "unsubscribed": int(events.get("unsubscribed", 0)),
              "bounced": int(events.get("bounced", 0)), "replied": int(events.get("replied", 0))}
    out: dict[str, Any] = {"campaign": campaign.name, "status": campaign.status, "funnel": funnel,
                           "window_days": window_days, "conversions": None, "attribution": None,
                           "ab_test": abtest.report(ctx, campaign)}
    if campaign.started_at is None:
        return out
    start = campaign.started_at.date()
    end = start + dt.timedelta(days=window_days)
    sent_conv, sent_revenue = _conversions(ctx, campaign.id, "sent", start, end)
    held_conv, held_revenue = _conversions(ctx, campaign.id, "held_out", start, end)
    out["conversions"] = {"sent": sent_conv, "held_out": held_conv, "currency": _base(ctx),
                          "revenue_sent": _money(sent_revenue), "revenue_held_out": _money(held_revenue),
                          **lift(sent_conv, funnel["sent"], held_conv, funnel["held_out"])}
    from .attribution import attribute

    out["attribution"] = attribute(ctx, campaign.id, window_days)
    return out
