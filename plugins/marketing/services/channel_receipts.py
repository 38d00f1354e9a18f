"""Receipts and replies from the messaging channels (``crm_channel_receipt``): a delivery receipt carrying one of
our Message-IDs marks its recipient delivered or bounced; an SMS opt-out reply withdraws the customer's SMS
marketing consent and puts the number on the suppression list."""
from __future__ import annotations

import re
from typing import Any

from crmcore.runtime import ServiceContext
from crmcore.services.unit import unit_of_work

from ..models import Consent, Recipient
from . import consent, tracking

_RECIPIENT = re.compile(r"^<m(\d+)\.")  # our Message-ID: <m<recipient id>.<digest>@<domain>>


def _message_id(item: Any) -> str:
    """Our message id a receipt carries: Alibaba's ``out_id``, Tencent's ``ext`` (SessionContext), WeCom's."""
    raw = item.raw or {}
    return str(raw.get("out_id") or raw.get("ext") or raw.get("message_id") or "")


def on_receipt(ctx: ServiceContext, message: Any, item: Any) -> None:
    """A receipt carrying a marketing message id marks its recipient delivered or failed; an SMS opt-out reply
    withdraws the customer's SMS marketing consent and suppresses the number."""

    if item.kind == "receipt" and item.event in ("delivered", "failed"):
        sent_as = _message_id(item)
        found = _RECIPIENT.match(sent_as)
        recipient = ctx.session.get(Recipient, int(found.group(1))) if found else None
        if recipient is None or not recipient.message_id or recipient.message_id[:len(sent_as)] != sent_as:
            return
        if item.event == "delivered":
            tracking.record_event(ctx, recipient.id, "delivered")
        else:
            tracking.record_event(ctx, recipient.id, "bounced")
            recipient.status, recipient.reason = "failed", (item.text or "")[:255] or None
        return
    if item.platform == "sms" and item.event == "unsubscribe":
        customer_id = message.customer_id
        if customer_id is not None:
            with unit_of_work(ctx):
                ctx.session.add(Consent(customer_id=customer_id, channel="sms", purpose="marketing", status="withdrawn",
                                        source="unsubscribe", text=(item.text or "")[:255] or None))
        consent.suppress(ctx, "sms", item.sender, "unsubscribed", customer_id)
