"""The customer 360 panel of the marketing plugin: consent per channel and the marketing messages received."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.contracts import Panel
from crmcore.i18n import _, local_time
from crmcore.runtime import ServiceContext

from .labels import RECIPIENT_STATES
from .models import CHANNELS, Campaign, MarketingEvent, Recipient
from .services.consent import latest_status

CHANNEL_LABELS = {"email": _("E-mail"), "sms": _("SMS"), "wechat": _("WeChat"), "wecom": _("WeCom"),
                  "phone": _("Phone")}
STATE_LABELS = {"granted": _("Agreed"), "withdrawn": _("Withdrawn"), "pending": _("Awaiting confirmation by e-mail"),
                None: _("Never asked")}


def customer_panels(ctx: ServiceContext, customer: Any) -> list[Panel]:
    if not (ctx.can("marketing.read") or ctx.can("marketing.consent.write")):
        return []
    rows = [(_("Marketing by %(channel)s", channel=CHANNEL_LABELS[c]), str(STATE_LABELS[latest_status(ctx, customer.id, c)]))
            for c in CHANNELS]
    messages = ctx.session.execute(select(Recipient, Campaign.name).join(Campaign, Campaign.id == Recipient.campaign_id)
                                   .where(Recipient.customer_id == customer.id)
                                   .order_by(Recipient.id.desc()).limit(10)).all()
    kinds: dict[int, set[str]] = {}
    if messages:
        for rid, kind in ctx.session.execute(select(MarketingEvent.recipient_id, MarketingEvent.kind).where(
                MarketingEvent.recipient_id.in_([r.id for r, _n in messages]))):
            kinds.setdefault(rid, set()).add(kind)
    items = [{"campaign": name, "status": str(RECIPIENT_STATES.get(r.status, r.status)),
              "sent_at": local_time(r.sent_at) if r.sent_at else "",
              "opened": "opened" in kinds.get(r.id, set()), "clicked": "clicked" in kinds.get(r.id, set())}
             for r, name in messages]
    return [Panel("marketing", _("Marketing"), order=60, rows=rows, items=items)]
