"""Campaigns, their messages and what happened to them as entities a report (or a condition) may read, under
the marketing plugin's record rules (:mod:`plugins.marketing.services.rules`)."""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import exists, func, select

from crmcore.entities import ComputedField, Entity
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

READ = "marketing.read"


def _words(table: dict[str, Any]) -> list[tuple[str, Any]]:
    return list(table.items())


def _campaigns(ctx: ServiceContext, stmt: Any) -> Any:
    from .services.rules import scope_campaigns

    return scope_campaigns(ctx, stmt)


def _recipients(ctx: ServiceContext, stmt: Any) -> Any:
    from .services.rules import scope_recipients

    return scope_recipients(ctx, stmt)


def _events(ctx: ServiceContext, stmt: Any) -> Any:
    from .models import MarketingEvent
    from .services.rules import my_customers, sees_all

    return stmt if sees_all(ctx) else stmt.where(MarketingEvent.customer_id.in_(my_customers(ctx)))


def entities() -> list[Entity]:
    """The campaign, the message sent to each recipient (its status) and the events on those messages."""
    from . import labels
    from .models import AB_METRICS, EVENT_KINDS, Campaign, MarketingEvent, Recipient

    audited = labels.AUDITED_COLUMNS
    return [
        Entity("campaign", Campaign, _("Campaigns"), READ, {
            "purpose": _("Purpose"), "audience_id": _("Audience"), "template_id": audited["template_id"],
            "holdout_percent": audited["holdout_percent"], "ab_test_percent": audited["ab_test_percent"],
            "ab_metric": audited["ab_metric"], "ab_hours": audited["ab_hours"],
            "ab_decided_at": _("A/B winner chosen"), "winner_variant_id": _("Variant"),
            "scheduled_at": _("Scheduled for"), "started_at": _("Started"), "finished_at": _("Finished"),
            "created_by_id": _("Created by")},
            {"status": _words(labels.CAMPAIGN_STATES), "channel": _words(labels.CHANNELS),
             "purpose": _words(labels.PURPOSES), "kind": [("oneoff", _("One-off send")), ("journey", _("Journey"))],
             "ab_metric": [(k, labels.FUNNEL[k]) for k in AB_METRICS]},
            scope=_campaigns),
        Entity("campaign_message", Recipient, _("Campaign messages"), READ, {
            "campaign_id": _("Campaign"), "address": _("Address"), "variant_id": _("Variant"),
            "reason": _("Reason"), "attempts": _("Attempts"), "sent_at": _("Sent at")},
            {"status": _words(labels.RECIPIENT_STATES)}, hidden=("message_id", "touch"), scope=_recipients),
        Entity("campaign_event", MarketingEvent, _("Campaign message events"), READ, {
            "campaign_id": _("Campaign"), "recipient_id": _("Campaign message"), "url": _("Link"),
            "detail": _("Details"), "at": _("When")},
            {"kind": [(k, labels.FUNNEL[k]) for k in EVENT_KINDS]}, scope=_events),
    ]


def _happened(kind: str) -> Callable[[ServiceContext], Any]:
    def expr(ctx: ServiceContext) -> Any:
        from .models import MarketingEvent, Recipient

        return exists(select(MarketingEvent.id).where(MarketingEvent.recipient_id == Recipient.id,
                                                      MarketingEvent.kind == kind).correlate(Recipient))
    return expr


def _converted(ctx: ServiceContext) -> Any:
    """Whether the recipient's customer ordered (an order not cancelled) dated within the attribution window after
    the campaign's start: the results page's conversion (:mod:`.services.results`), as one correlated EXISTS."""
    from plugins.sales.models import Order

    from .models import Campaign, Recipient
    from .services.results import WINDOW_DAYS

    if ctx.session.get_bind().dialect.name == "postgresql":  # the UTC day, as the results page reads the start
        first = func.date(func.timezone("UTC", Campaign.started_at))
        last = first + WINDOW_DAYS
    else:
        first, last = func.date(Campaign.started_at), func.date(Campaign.started_at, f"+{WINDOW_DAYS} days")
    return exists(select(Order.id).where(
        Campaign.id == Recipient.campaign_id, Order.customer_id == Recipient.customer_id, Order.status != "cancelled",
        Order.order_date >= first, Order.order_date <= last).correlate(Recipient))


def computed_fields() -> list[ComputedField]:
    """Whether a message was opened, clicked, bounced or led to an unsubscribe (an event of that kind on it), and
    whether its recipient converted (ordered within the attribution window)."""
    return [ComputedField("campaign_message", "opened", "bool", _("Opened the message"), _happened("opened")),
            ComputedField("campaign_message", "clicked", "bool", _("Clicked"), _happened("clicked")),
            ComputedField("campaign_message", "bounced", "bool", _("Bounced"), _happened("bounced")),
            ComputedField("campaign_message", "unsubscribed", "bool", _("Unsubscribed"), _happened("unsubscribed")),
            ComputedField("campaign_message", "converted", "bool", _("Ordered within the attribution window"),
                          _converted)]
