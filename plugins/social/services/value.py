"""Social value: per customer, the paid revenue of the customers they brought (level 1 in full, each level
below weighted by the programme's decay), the referrals that bought, and the reach, computed for a batch
of customers by one recursive CTE and stored in ``social_values``."""
from __future__ import annotations

import decimal
from typing import Any, Iterable

from sqlalchemy import Numeric, case, cast, delete, exists, func, literal, select
from sqlalchemy.orm import aliased

from crmcore.db import utcnow
from crmcore.models import Customer
from crmcore.runtime import ServiceContext

from ..models import Referral, SocialValue
from .tree import max_depth

BATCH = 500


def decay_of(ctx: ServiceContext) -> decimal.Decimal:
    from .programme import programme

    return decimal.Decimal(programme(ctx).decay)


def paid_revenue(ctx: ServiceContext) -> Any:
    """SQL: per customer (``cid``), the total of their paid orders in the base currency (``revenue``).

    A paid order is one not cancelled with an invoice in state ``paid``; an amount in a currency without an
    exchange rate counts as 0."""
    from plugins.sales.models import Invoice, Order
    from plugins.sales.services.money import base_currency, converted

    paid = exists().where(Invoice.order_id == Order.id, Invoice.state == "paid")
    amount = func.coalesce(converted(ctx, Order.total, Order.currency, base_currency(ctx)), 0)
    return (select(Order.customer_id.label("cid"), func.sum(amount).label("revenue"))
            .where(Order.status != "cancelled", paid).group_by(Order.customer_id).subquery("social_revenue"))


def compute(ctx: ServiceContext, roots: Iterable[int]) -> dict[int, tuple[decimal.Decimal, int, int]]:
    """``{customer id: (social value, successful referrals, reach)}`` for the customers among ``roots`` who
    brought anyone; one query for the batch."""
    roots = list(roots)
    if not roots:
        return {}
    decay = literal(decay_of(ctx), Numeric(6, 3))
    live = (Customer.deleted_at.is_(None)) & (Customer.merged_into_id.is_(None))
    start = (select(Referral.referrer_customer_id.label("root"), Referral.referee_customer_id.label("cid"),
                    literal(1).label("depth"), cast(literal(1), Numeric).label("weight"))
             .join(Customer, Customer.id == Referral.referee_customer_id)
             .where(Referral.referrer_customer_id.in_(roots), live)
             .cte("social_tree", recursive=True))
    below = aliased(Referral)
    tree = start.union_all(
        select(start.c.root, below.referee_customer_id, start.c.depth + 1, cast(start.c.weight * decay, Numeric))
        .join(below, below.referrer_customer_id == start.c.cid)
        .join(Customer, Customer.id == below.referee_customer_id)
        .where(start.c.depth < max_depth(ctx), live))
    revenue = paid_revenue(ctx)
    stmt = (select(tree.c.root,
                   func.sum(func.coalesce(revenue.c.revenue, 0) * tree.c.weight),
                   func.sum(case(((tree.c.depth == 1) & revenue.c.cid.is_not(None), 1), else_=0)),
                   func.count())
            .select_from(tree.outerjoin(revenue, revenue.c.cid == tree.c.cid))
            .group_by(tree.c.root))
    cent = decimal.Decimal("0.01")
    return {int(root): (decimal.Decimal(str(value or 0)).quantize(cent, rounding=decimal.ROUND_HALF_UP),
                        int(count or 0), int(reach or 0))
            for root, value, count, reach in ctx.session.execute(stmt)}


def store(ctx: ServiceContext, roots: Iterable[int]) -> int:
    """Recompute and store the social value of ``roots``; a customer who brought no one keeps no row (0)."""
    roots = list(roots)
    done = 0
    for i in range(0, len(roots), BATCH):
        batch = roots[i:i + BATCH]
        values = compute(ctx, batch)
        ctx.session.execute(delete(SocialValue).where(SocialValue.customer_id.in_(batch)))
        now = utcnow()
        ctx.session.add_all([SocialValue(customer_id=cid, social_value=v, referral_count=n, referral_reach=r,
                                         computed_at=now) for cid, (v, n, r) in values.items()])
        ctx.session.flush()
        done += len(values)
    return done


def recompute_all(ctx: ServiceContext) -> int:
    """The ``social.recompute`` job: every customer who brought someone, and no stale row left."""
    from crmcore.services.unit import unit_of_work

    with unit_of_work(ctx):
        roots = sorted(int(c) for c in ctx.session.scalars(
            select(Referral.referrer_customer_id).where(Referral.referrer_customer_id.is_not(None)).distinct()))
        stale = delete(SocialValue)
        ctx.session.execute(stale.where(SocialValue.customer_id.not_in(roots)) if roots else stale)
        return store(ctx, roots)


def refresh_for(ctx: ServiceContext, customer_ids: Iterable[int]) -> int:
    """After a payment or a cancellation of these customers: recompute everyone above them in the tree."""
    from .tree import ancestors_of_all

    return store(ctx, sorted(ancestors_of_all(ctx, set(customer_ids))))


def value_of(ctx: ServiceContext, customer_id: int) -> dict[str, Any]:
    row = ctx.session.get(SocialValue, customer_id)
    return {"customer_id": customer_id,
            "social_value": row.social_value if row else decimal.Decimal("0.00"),
            "referral_count": row.referral_count if row else 0, "referral_reach": row.referral_reach if row else 0,
            "computed_at": row.computed_at if row else None}


def top_advocates(ctx: ServiceContext, *, limit: int = 50) -> list[dict[str, Any]]:
    """The customers with the highest social value the actor may see, with their counts."""
    from crmcore.services.access import scope_customers

    ctx.require("social.read")
    stmt = scope_customers(ctx, select(Customer.id, Customer.name, Customer.code, SocialValue.social_value,
                                       SocialValue.referral_count, SocialValue.referral_reach)
                           .join(SocialValue, SocialValue.customer_id == Customer.id)
                           .where(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)))
    rows = ctx.session.execute(stmt.order_by(SocialValue.social_value.desc(), SocialValue.referral_reach.desc(),
                                             Customer.id).limit(limit))
    return [{"customer_id": i, "name": n, "code": c, "social_value": v, "referral_count": k, "referral_reach": r}
            for i, n, c, v, k, r in rows]
