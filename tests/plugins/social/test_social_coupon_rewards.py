"""Referral rewards paid in coupons of the sales plugin's coupon programmes (``issue_coupon``): a single-use code
for each side once the return window is over; a closed programme refuses, recorded as the reward's reason."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from plugins.sales.services import coupons
from plugins.social.models import Reward
from plugins.social.services.programme import update_programme
from plugins.social.services.rewards import grant_due

LATER = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)


def test_both_sides_get_a_single_use_coupon(ctx: Any, make_customer: Any, refer: Any, paid_order: Any) -> None:
    from plugins.sales.models_coupons import Coupon

    programme = coupons.save_programme(ctx, {"name": "推荐有礼 20 元", "amount": "20"})
    update_programme(ctx, {"reward_kind": "coupon", "coupon_programme_id": programme.id})
    a = make_customer("推荐人")
    b = refer(a, "新客户")
    paid_order(b, "300")
    assert grant_due(ctx, now=LATER)["granted"] == 2
    ctx.session.expire_all()
    rewards = list(ctx.session.scalars(select(Reward).order_by(Reward.id)))
    issued = {c.code: c for c in ctx.session.scalars(select(Coupon).where(Coupon.programme_id == programme.id))}
    assert {(r.customer_id, r.kind, r.status) for r in rewards} == {(a.id, "coupon", "granted"),
                                                                   (b.id, "coupon", "granted")}
    assert {issued[r.coupon_code].customer_id for r in rewards} == {a.id, b.id}
    assert all(c.max_uses == 1 for c in issued.values())


def test_a_closed_coupon_programme_refuses_with_its_reason(ctx: Any, make_customer: Any, refer: Any,
                                                           paid_order: Any) -> None:
    programme = coupons.save_programme(ctx, {"name": "已结束", "amount": "10"})
    update_programme(ctx, {"reward_kind": "coupon", "coupon_programme_id": programme.id})
    paid_order(refer(make_customer("推荐人"), "新客户"), "300")
    coupons.save_programme(ctx, {"active": False}, programme.id)
    assert grant_due(ctx, now=LATER) == {"granted": 0, "cancelled": 0, "refused": 2}
    ctx.session.expire_all()
    assert {(r.status, r.reason) for r in ctx.session.scalars(select(Reward))} == {("refused", "coupon_not_issued")}
