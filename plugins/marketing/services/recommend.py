"""The recommendations' fallback: when no basket rule suggests anything for a customer, the best sellers of the
last ``MARKETING_BEST_SELLER_DAYS`` (90) days (by customers who ordered them, active products) that the
customer has not bought. Empty only when nothing sold. The best sellers are read once per session (a send)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import distinct, func, select

from crmcore.config import setting_int
from crmcore.runtime import ServiceContext

KEY = "marketing_best_sellers"
POOL = 20


def _best_sellers(ctx: ServiceContext) -> list[tuple[int, str]]:
    from plugins.sales.models import Order, OrderLine, Product

    cached = ctx.session.info.get(KEY)
    if cached is None:
        since = dt.date.today() - dt.timedelta(days=setting_int(ctx.settings, "MARKETING_BEST_SELLER_DAYS", 90, 1))
        buyers = func.count(distinct(Order.customer_id))
        cached = [(int(pid), str(name)) for pid, name, _n in ctx.session.execute(
            select(Product.id, Product.name, buyers).join(OrderLine, OrderLine.product_id == Product.id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Product.active.is_(True), Order.status != "cancelled", Order.order_date >= since)
            .group_by(Product.id, Product.name).order_by(buyers.desc(), Product.id).limit(POOL))]
        ctx.session.info[KEY] = cached
    return list(cached)


def best_sellers(ctx: ServiceContext, customer_id: int, limit: int = 3) -> list[str]:
    """Names of up to ``limit`` best sellers the customer has not bought."""
    from plugins.sales.models import Order, OrderLine

    pool = _best_sellers(ctx)
    if not pool:
        return []
    bought = set(ctx.session.scalars(select(OrderLine.product_id).join(Order, Order.id == OrderLine.order_id).where(
        Order.customer_id == customer_id, OrderLine.product_id.in_([pid for pid, _n in pool]))))
    return [name for pid, name in pool if pid not in bought][:limit]
