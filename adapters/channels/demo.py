"""The demo's WeChat Official Account: a follower linked to the demo customer HZ001 with a few messages, and
an unknown follower waiting in the unmatched queue."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from crmcore.db import utcnow
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services import identities

from . import inbox
from .base import Inbound
from .models import ChannelAccount

APP_ID = "wxdemo0000000001"


def load_demo(ctx: ServiceContext) -> str:
    if ctx.session.scalar(select(ChannelAccount.id).where(ChannelAccount.account == APP_ID)):
        return "Channel demo data is already there."
    ctx.session.add(ChannelAccount(platform="wechat", account=APP_ID, name="演示服务号", enabled=True,
                                   config={"mode": "plain", "welcome_text": "欢迎关注演示服务号！"}, secrets={}))
    customer = ctx.session.scalar(select(Customer).where(Customer.code == "HZ001"))
    if customer is not None:
        identities.record(ctx, customer.id, "wechat_openid", "oDEMOfollowerHZ001", APP_ID, source="demo")
    ctx.session.commit()
    now = utcnow().replace(microsecond=0)
    messages = [("oDEMOfollowerHZ001", "event", "subscribe", None, 3), ("oDEMOfollowerHZ001", "text", None, "明前龙井还有货吗？", 2),
                ("oDEMOfollowerHZ001", "text", None, "好的，下周订 20 箱。", 1), ("oDEMOunknown0001", "text", None, "请问怎么加盟？", 0)]
    for n, (sender, kind, event, text, days) in enumerate(messages, start=1):
        inbox.receive(ctx, Inbound(platform="wechat", account=APP_ID, sender=sender, msg_id=f"demo-{n}", kind=kind,
                                   event=event, text=text, received_at=now - dt.timedelta(days=days)))
    ctx.session.commit()
    return "Channel demo: a WeChat follower of HZ001 with messages, one sender in the unmatched queue."
