"""Association rules from order lines ("bought A, also bought B") by SQL pair counts over orders:
support, confidence and lift, stored per run; they feed the sales plugin's cross-sell hook."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, and_, cast, delete, func, insert, literal, select
from sqlalchemy.orm import aliased

from crmcore.errors import ValidationError
from crmcore.events import audit
from crmcore.i18n import _
from crmcore.services.unit import unit_of_work
from crmcore.staging import staged
from crmcore.runtime import ServiceContext
from plugins.sales.contracts import Suggestion
from plugins.sales.models import Order, OrderLine, Product

from ..models import AssociationRule
from .checks import stale_history
from .sqlfuncs import as_date, sold_orders


def run_basket(ctx: ServiceContext, as_of: dt.date | None = None, *, days: int = 365, min_pairs: int = 2,
               min_confidence: float = 0.05) -> dict[str, Any]:
    """Rules A -> B over the orders of the last ``days`` days with at least ``min_pairs`` orders
    containing both and confidence >= ``min_confidence``; replaces the run date's rules."""
    ctx.require("analysis.run")
    as_of = as_of or dt.datetime.now(dt.timezone.utc).date()
    if days < 1 or min_pairs < 1 or not 0 <= min_confidence <= 1:
        raise ValidationError(_("The basket settings are not valid."),
                              errors={"settings": [str(_("days and min_pairs must be positive; min_confidence in [0, 1]."))]})
    since = as_of - dt.timedelta(days=days)
    items = (select(OrderLine.order_id.label("order_id"), OrderLine.product_id.label("product_id"))
             .join(Order, Order.id == OrderLine.order_id)
             .where(sold_orders(as_of, since=since), OrderLine.product_id.is_not(None)).distinct().subquery("items"))
    n_orders = select(func.count(func.distinct(items.c.order_id))).scalar_subquery()
    counts = select(items.c.product_id, func.count().label("n")).group_by(items.c.product_id).subquery("counts")
    a, b = aliased(items, name="a"), aliased(items, name="b")
    pairs = (select(a.c.product_id.label("antecedent_id"), b.c.product_id.label("consequent_id"),
                    func.count().label("pair_count"))
             .join(b, and_(b.c.order_id == a.c.order_id, b.c.product_id != a.c.product_id))
             .group_by(a.c.product_id, b.c.product_id).having(func.count() >= min_pairs).subquery("pairs"))
    ca, cb = aliased(counts, name="ca"), aliased(counts, name="cb")
    total = cast(n_orders, Float)
    confidence = cast(pairs.c.pair_count, Float) / ca.c.n
    rules = (select(as_date(as_of), pairs.c.antecedent_id, pairs.c.consequent_id, pairs.c.pair_count,
                    (cast(pairs.c.pair_count, Float) / total).label("support"), confidence.label("confidence"),
                    (confidence / (cast(cb.c.n, Float) / total)).label("lift"))
             .join(ca, ca.c.product_id == pairs.c.antecedent_id).join(cb, cb.c.product_id == pairs.c.consequent_id)
             .where(confidence >= literal(min_confidence)))
    # the pairs are counted over every order line: staged first, so the write holds SQLite's lock only to copy
    with unit_of_work(ctx), staged(ctx.session, rules) as staged_rules:
        ctx.session.execute(delete(AssociationRule).where(AssociationRule.run_date == as_of))
        ctx.session.execute(insert(AssociationRule).from_select(
            ["run_date", "antecedent_id", "consequent_id", "pair_count", "support", "confidence", "lift"], staged_rules))
        n = ctx.session.scalar(select(func.count()).select_from(AssociationRule).where(AssociationRule.run_date == as_of))
        useful = ctx.session.scalar(select(func.count()).select_from(AssociationRule).where(
            AssociationRule.run_date == as_of, AssociationRule.lift > 1))
        audit(ctx, "computed", "analysis_basket", as_of.isoformat(), data={"rules": n, "days": days, "min_pairs": min_pairs})
    return {"run_date": as_of, "rules": int(n or 0), "rules_lift_above_1": int(useful or 0), "days": days,
            "min_pairs": min_pairs, "min_confidence": min_confidence, "warnings": stale_history(ctx, as_of)}


def top_rules(ctx: ServiceContext, run_date: dt.date | None = None, limit: int = 20, product_id: int | None = None, *,
              min_lift: float | None = 1.0) -> list[dict[str, Any]]:
    """The strongest rules of a run (latest by default), by lift then confidence: only rules with
    lift above ``min_lift`` (1: buying A makes B more likely than it is anyway; None: every rule)."""
    from .rfm import latest_run

    run_date = run_date or latest_run(ctx, AssociationRule)
    if run_date is None:
        return []
    pa, pb = aliased(Product), aliased(Product)
    stmt = (select(AssociationRule, pa.name, pb.name).join(pa, pa.id == AssociationRule.antecedent_id)
            .join(pb, pb.id == AssociationRule.consequent_id).where(AssociationRule.run_date == run_date)
            .order_by(AssociationRule.lift.desc(), AssociationRule.confidence.desc(), AssociationRule.id).limit(limit))
    if product_id is not None:
        stmt = stmt.where(AssociationRule.antecedent_id == product_id)
    if min_lift is not None:
        stmt = stmt.where(AssociationRule.lift > min_lift)
    return [{"antecedent_id": r.antecedent_id, "antecedent": an, "consequent_id": r.consequent_id, "consequent": bn,
             "orders": r.pair_count, "support": round(r.support, 4), "confidence": round(r.confidence, 4),
             "lift": round(r.lift, 3)} for r, an, bn in ctx.session.execute(stmt)]


def suggestions_for(ctx: ServiceContext, customer: Any, limit: int = 10) -> list[Suggestion]:
    """Products that go with what the customer bought (latest rules, lift > 1), not yet bought."""
    from .rfm import latest_run

    run_date = latest_run(ctx, AssociationRule)
    if run_date is None:
        return []
    bought = (select(OrderLine.product_id).join(Order, Order.id == OrderLine.order_id)
              .where(Order.customer_id == customer.id, Order.status.in_(("confirmed", "delivered")),
                     OrderLine.product_id.is_not(None)).distinct())
    stmt = (select(AssociationRule, Product.name).join(Product, Product.id == AssociationRule.antecedent_id)
            .where(AssociationRule.run_date == run_date, AssociationRule.antecedent_id.in_(bought),
                   AssociationRule.consequent_id.not_in(bought), AssociationRule.lift > 1)
            .order_by(AssociationRule.confidence.desc(), AssociationRule.lift.desc()).limit(limit * 5))
    best: dict[int, Suggestion] = {}
    for rule, name in ctx.session.execute(stmt):
        reason = str(_("Often bought with %(product)s (confidence %(conf)s%%, lift %(lift)s)", product=name,
                       conf=f"{rule.confidence * 100:.0f}", lift=f"{rule.lift:.1f}"))
        have = best.get(rule.consequent_id)
        if have is None:
            best[rule.consequent_id] = Suggestion(rule.consequent_id, float(rule.confidence), [reason], "analysis")
        elif reason not in have.reasons:
            have.reasons.append(reason)
    return sorted(best.values(), key=lambda s: -s.score)[:limit]
