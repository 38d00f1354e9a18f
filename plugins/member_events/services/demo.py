"""Demo member event (``crm demo``): the annual members' evening in two weeks, invited from the marketing demo's
audience (or the first demo customers), with answers given (one through WeChat). Idempotent."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy import select

from crmcore.db import utcnow
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services.unit import unit_of_work

from ..models import Invitation, MemberEvent
from . import events, invitations, wechat_rsvp

NAME = "2027 年度会员答谢会"


def load_demo(ctx: ServiceContext) -> str:
    if ctx.session.scalar(select(MemberEvent.id).where(MemberEvent.name == NAME)):
        return "Member events demo data is already there."
    customers = list(ctx.session.scalars(select(Customer.id).where(Customer.deleted_at.is_(None),
                                                                   Customer.merged_into_id.is_(None))
                                         .order_by(Customer.id).limit(6)))
    if not customers:
        return "Load the core demo first: crm demo"
    day = (utcnow() + dt.timedelta(days=14)).date()
    event = events.save_event(ctx, {
        "name": NAME, "description": "感谢老客户一年来的支持：新品品鉴、抽奖和晚宴。", "place": "杭州西湖国宾馆 紫薇厅",
        "starts_at": f"{day.isoformat()}T18:00", "ends_at": f"{day.isoformat()}T21:00",
        "timezone": "Asia/Shanghai", "capacity": 40})
    invitations.invite(ctx, event.id, {"customer_ids": customers})
    found = list(ctx.session.scalars(select(Invitation).where(Invitation.event_id == event.id)
                                     .order_by(Invitation.id)))
    for invitation, answer in zip(found, ("yes", "yes", "maybe", "no"), strict=False):
        invitations.answer(ctx, invitations.token(ctx, "rsvp", invitation.id), {"response": answer})
    if len(found) > 4:  # the fifth scanned their invitation's WeChat QR code: what the channels hand on
        scan = SimpleNamespace(scene=wechat_rsvp.scene(ctx, found[4]), received_at=utcnow())
        with unit_of_work(ctx):
            wechat_rsvp.on_scene(ctx, scan, None, None)
    return f"Member events demo data: {NAME} with {len(found)} invitations and their answers (one by WeChat)."
