"""What the campaign report page adds to the results service: events per day, outcomes by RFM segment (one
grouped query in the reader's record scope) and each recipient's outcome, with conversions counted as the
results service counts them (an order, not cancelled, within the window after the start)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

from sqlalchemy import and_, case, func, literal, select

from crmcore.models import Customer
from crmcore.runtime import ServiceContext

from ..models import EVENT_KINDS, Campaign, MarketingEvent, Recipient, Variant
from . import rules
from .results import WINDOW_DAYS

OUTCOME_KINDS = ("delivered", "opened", "clicked", "replied", "unsubscribed", "bounced")


def _day(value: Any) -> str:
    return str(value)[:10]


def _utc_day(ctx: ServiceContext, column: Any) -> Any:
    """SQL: the UTC calendar day of a stored UTC time, whatever the PostgreSQL session's time zone."""
    if ctx.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def over_time(ctx: ServiceContext, campaign: Campaign) -> dict[str, Any]:
    """Per day since the start (UTC, every day up to the last event): messages sent and each event kind
    (counted whole as the results service does)."""
    sent_day, event_day = _utc_day(ctx, Recipient.sent_at), _utc_day(ctx, MarketingEvent.at)
    sent = ctx.session.execute(select(sent_day, func.count()).where(
        Recipient.campaign_id == campaign.id, Recipient.status == "sent").group_by(sent_day)).all()
    events = ctx.session.execute(select(event_day, MarketingEvent.kind, func.count())
                                 .where(MarketingEvent.campaign_id == campaign.id)
                                 .group_by(event_day, MarketingEvent.kind)).all()
    counts: dict[str, dict[str, int]] = {}
    for day, n in sent:
        if day is not None:
            counts.setdefault(_day(day), {})["sent"] = int(n)
    for day, kind, n in events:
        counts.setdefault(_day(day), {})[kind] = int(n)
    if not counts:
        return {"days": [], "series": {}}
    first = min(counts) if campaign.started_at is None else min(_day(campaign.started_at.date()), min(counts))
    day, last = dt.date.fromisoformat(first), dt.date.fromisoformat(max(counts))
    days = []
    while day <= last:
        days.append(day.isoformat())
        day += dt.timedelta(days=1)
    kinds = ("sent", *EVENT_KINDS)
    return {"days": days, "series": {k: [counts.get(d, {}).get(k, 0) for d in days] for k in kinds
                                     if any(counts.get(d, {}).get(k) for d in days)}}


def _window(campaign: Campaign, window_days: int) -> tuple[dt.date, dt.date] | None:
    if campaign.started_at is None:
        return None
    start = campaign.started_at.date()
    return start, start + dt.timedelta(days=window_days)


def _flags(campaign_id: int) -> Any:
    """Subquery: per recipient of the campaign with an event, 1 or 0 for each event kind (one pass over its events)."""
    return (select(MarketingEvent.recipient_id.label("recipient_id"),
                   *(func.max(case((MarketingEvent.kind == k, 1), else_=0)).label(k) for k in OUTCOME_KINDS))
            .where(MarketingEvent.campaign_id == campaign_id).group_by(MarketingEvent.recipient_id).subquery())


def _buyers(campaign: Campaign, window_days: int) -> Any:
    """Subquery: the customers with an order (not cancelled) within the window after the start, as the results
    service counts conversions; None before the start."""
    from plugins.sales.models import Order

    span = _window(campaign, window_days)
    if span is None:
        return None
    return (select(Order.customer_id.label("customer_id")).where(
        Order.status != "cancelled", Order.order_date >= span[0], Order.order_date <= span[1])
        .group_by(Order.customer_id).subquery())


def _joined(stmt: Any, flags: Any, buyers: Any) -> tuple[Any, Any]:
    """``stmt`` (over Recipient) joined to the flags and buyers, and the 'converted' condition."""
    stmt = stmt.outerjoin(flags, flags.c.recipient_id == Recipient.id)
    if buyers is None:
        return stmt, literal(False)
    return stmt.outerjoin(buyers, buyers.c.customer_id == Recipient.customer_id), buyers.c.customer_id.is_not(None)


def _analysis_loaded(ctx: ServiceContext) -> bool:
    return any(getattr(p, "__name__", "") == "plugins.analysis" for p in ctx.pm.get_plugins())


def by_segment(ctx: ServiceContext, campaign: Campaign, window_days: int = WINDOW_DAYS) -> list[dict[str, Any]] | None:
    """Recipients by RFM segment of the latest run (those the reader may see): in the audience, sent, held out,
    opened, clicked, converted; ``key`` None for customers without a segment. None without the analysis plugin."""
    if not _analysis_loaded(ctx):
        return None
    from plugins.analysis.models import RfmScore
    from plugins.analysis.services.rfm import latest_run
    from plugins.analysis.services.segments import segment_labels

    run = latest_run(ctx, RfmScore)
    flags, buyers = _flags(campaign.id), _buyers(campaign, window_days)
    is_sent, is_held = Recipient.status == "sent", Recipient.status == "held_out"

    def count(*conditions: Any) -> Any:
        return func.sum(case((and_(*conditions), 1), else_=0))

    stmt = select(Recipient.id).outerjoin(RfmScore, and_(RfmScore.customer_id == Recipient.customer_id,
                                                         RfmScore.run_date == run))
    stmt, converted = _joined(stmt, flags, buyers)
    stmt = (stmt.with_only_columns(RfmScore.segment, func.count(Recipient.id), count(is_sent), count(is_held),
                                   count(is_sent, flags.c.opened == 1), count(is_sent, flags.c.clicked == 1),
                                   count(is_sent, converted), count(is_held, converted))
            .where(Recipient.campaign_id == campaign.id).group_by(RfmScore.segment))
    names = segment_labels(ctx)
    out = []
    for segment, audience, sent, held, opened, clicked, conv, conv_held in ctx.session.execute(
            rules.scope_recipients(ctx, stmt)):
        sent, held, conv, conv_held = int(sent or 0), int(held or 0), int(conv or 0), int(conv_held or 0)
        out.append({"key": segment, "label": names.get(segment, segment) if segment else None,
                    "audience": int(audience), "sent": sent, "held_out": held, "opened": int(opened or 0),
                    "clicked": int(clicked or 0), "converted": conv, "converted_held_out": conv_held,
                    "rate_sent": conv / sent if sent else None, "rate_control": conv_held / held if held else None})
    order = list(names)
    out.sort(key=lambda r: (r["key"] is None, order.index(r["key"]) if r["key"] in order else len(order),
                            str(r["key"])))
    return out


def outcomes(ctx: ServiceContext, campaign: Campaign, window_days: int = WINDOW_DAYS) -> Iterator[dict[str, Any]]:
    """Each recipient the reader may see, in order: customer's name, variant, status, sent time, each event kind
    (whether it happened) and whether the customer converted within the window."""
    flags = _flags(campaign.id)
    stmt, converted = _joined(select(Recipient.id), flags, _buyers(campaign, window_days))
    stmt = (stmt.join(Customer, Customer.id == Recipient.customer_id)
            .outerjoin(Variant, Variant.id == Recipient.variant_id)
            .with_only_columns(Recipient.id, Customer.name, Variant.label, Recipient.status, Recipient.sent_at,
                               *(flags.c[k] for k in OUTCOME_KINDS), converted)
            .where(Recipient.campaign_id == campaign.id).order_by(Recipient.id))
    for row in ctx.session.execute(rules.scope_recipients(ctx, stmt)).yield_per(1000):
        yield {"customer": row[1], "variant": row[2], "status": row[3], "sent_at": row[4],
               **{k: bool(v) for k, v in zip(OUTCOME_KINDS, row[5:5 + len(OUTCOME_KINDS)], strict=True)},
               "converted": bool(row[-1])}
