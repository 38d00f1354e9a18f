"""Merging customers keeps the referral tree a tree: one referrer, no referral to itself or round a circle; the
removed referral and its rewards come back when the merge is undone."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.services import dedupe
from plugins.social.models import Referral, Reward
from plugins.social.services.tree import referral_tree


def edges(ctx: Any) -> set[tuple[int | None, int | None]]:
    ctx.session.expire_all()
    return {(r.referrer_customer_id, r.referee_customer_id) for r in ctx.session.scalars(select(Referral))}


def test_merging_an_ancestor_into_its_descendant_makes_no_circle(ctx: Any, make_customer: Any, refer: Any) -> None:
    a = make_customer("甲")
    b = refer(a, "乙")
    c = refer(b, "丙")
    dedupe.merge_customers(ctx, c.id, a.id)  # the loser a is above the winner c
    assert edges(ctx) == {(c.id, b.id)}
    assert [n["id"] for n in referral_tree(ctx, c.id)["descendants"]] == [b.id]
    assert referral_tree(ctx, c.id)["ancestors"] == []


def test_merging_two_referred_customers_keeps_the_winners_referrer_and_undo_restores(
        ctx: Any, make_customer: Any, refer: Any, paid_order: Any) -> None:
    from crmcore.models import AuditLog

    x, y = make_customer("推荐人甲"), make_customer("推荐人乙")
    w = refer(x, "客户一")
    loser = refer(y, "客户一（重复）")
    paid_order(loser, "100")  # the loser's referral has rewards
    assert ctx.session.scalar(select(Reward.id)) is not None
    dedupe.merge_customers(ctx, w.id, loser.id)
    assert edges(ctx) == {(x.id, w.id)}
    assert ctx.session.scalar(select(Reward.id)) is None
    entry = ctx.session.scalar(select(AuditLog).where(AuditLog.action == "merged").order_by(AuditLog.id.desc()))
    dedupe.unmerge(ctx, entry.id)
    assert edges(ctx) == {(x.id, w.id), (y.id, loser.id)}
    assert ctx.session.scalar(select(Reward.id)) is not None


def test_merging_a_referee_into_its_referrer(ctx: Any, make_customer: Any, refer: Any) -> None:
    a = make_customer("甲")
    b = refer(a, "乙")
    c = refer(b, "丙")
    dedupe.merge_customers(ctx, a.id, b.id)
    assert edges(ctx) == {(a.id, c.id)}
