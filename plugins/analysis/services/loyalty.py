"""Loyalty and retention by SQL aggregates: the cohort retention table by first-purchase month,
and the loyalty factors of DOMAIN.md section 3 (repeat purchases, time between purchases, price
sensitivity as the share of order lines bought on discount)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, and_, case, cast, extract, func, or_, select

from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from plugins.sales.models import Order, OrderLine

from .sqlfuncs import as_date, days_between, sold_orders


def month_index(column: Any) -> Any:
    """Months since year 0 (``year * 12 + month - 1``), portable across SQLite and PostgreSQL."""
    return cast(extract("year", column), Float) * 12 + cast(extract("month", column), Float) - 1


def _label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _live(stmt: Any) -> Any:
    return stmt.join(Customer, Customer.id == Order.customer_id).where(Customer.deleted_at.is_(None),
                                                                        Customer.merged_into_id.is_(None))


def cohort_table(ctx: ServiceContext, as_of: dt.date, months: int = 12, customer_ids: Any = None) -> list[dict[str, Any]]:
    """One row per first-purchase month of the last ``months`` months: its size and, for each month
    after it (0 = the first month), how many of its customers bought and what share that is."""
    start_index = as_of.year * 12 + as_of.month - 1 - (months - 1)
    active = _live(select(Order.customer_id.label("customer_id"), month_index(Order.order_date).label("m"))
                   .where(sold_orders(as_of))).distinct()
    if customer_ids is not None:
        active = active.where(Order.customer_id.in_(customer_ids))
    active = active.subquery("active")
    first = (select(active.c.customer_id, func.min(active.c.m).label("cohort"))
             .group_by(active.c.customer_id).subquery("first"))
    stmt = (select(first.c.cohort, (active.c.m - first.c.cohort).label("month_offset"), func.count())
            .join(active, active.c.customer_id == first.c.customer_id)
            .where(first.c.cohort >= start_index)
            .group_by(first.c.cohort, active.c.m - first.c.cohort).order_by(first.c.cohort, "month_offset"))
    table: dict[int, dict[str, Any]] = {}
    for cohort, offset, n in ctx.session.execute(stmt):
        row = table.setdefault(int(cohort), {"cohort": _label(int(cohort)), "size": 0, "active": {}})
        row["active"][int(offset)] = int(n)
        if int(offset) == 0:
            row["size"] = int(n)
    out = []
    for index in sorted(table):
        row = table[index]
        span = start_index + months - index
        counts = [row["active"].get(k, 0) for k in range(span)]
        out.append({"cohort": row["cohort"], "size": row["size"], "active": counts,
                    "retention": [round(c / row["size"], 4) if row["size"] else None for c in counts]})
    return out


def discounted(line: Any = OrderLine) -> Any:
    """SQL: the order line was bought on discount (a line discount, or below its list price)."""
    return or_(line.discount_percent > 0, and_(line.list_price.is_not(None), line.unit_price < line.list_price))


def loyalty_summary(ctx: ServiceContext, as_of: dt.date, customer_ids: Any = None) -> dict[str, Any]:
    """Repeat-purchase rate, mean days between purchases, share of order lines on discount."""
    per_customer = _live(select(Order.customer_id, func.count(Order.id).label("n"),
                                days_between(func.max(Order.order_date), func.min(Order.order_date)).label("span"))
                         .where(sold_orders(as_of)))
    if customer_ids is not None:
        per_customer = per_customer.where(Order.customer_id.in_(customer_ids))
    pc = per_customer.group_by(Order.customer_id).subquery()
    buyers, repeaters, span, gaps = ctx.session.execute(select(
        func.count(), func.sum(case((pc.c.n > 1, 1), else_=0)),
        func.sum(case((pc.c.n > 1, pc.c.span), else_=0)), func.sum(pc.c.n - 1))).one()
    lines = _live(select(func.count(OrderLine.id), func.sum(case((discounted(), 1), else_=0)))
                  .select_from(OrderLine).join(Order, Order.id == OrderLine.order_id).where(sold_orders(as_of)))
    if customer_ids is not None:
        lines = lines.where(Order.customer_id.in_(customer_ids))
    n_lines, n_discounted = ctx.session.execute(lines).one()
    buyers, repeaters = int(buyers or 0), int(repeaters or 0)
    return {"as_of": as_of, "customers": buyers, "repeat_customers": repeaters,
            "repeat_purchase_rate": round(repeaters / buyers, 4) if buyers else None,
            "mean_days_between_purchases": round(float(span) / float(gaps), 1) if gaps else None,
            "order_lines": int(n_lines or 0), "discounted_lines": int(n_discounted or 0),
            "discount_share": round(int(n_discounted or 0) / int(n_lines), 4) if n_lines else None}


def customer_features(ctx: ServiceContext, as_of: dt.date, currency: str) -> Any:
    """Subquery of each buying customer's features as of a date: recency, frequency, monetary,
    tenure, mean days between purchases and discount share (what churn and tags read). Orders whose
    currency has no rate to ``currency`` are left out (``checks.missing_rates`` says so)."""
    from plugins.sales.services.money import converted

    from .checks import convertible

    amount = converted(ctx, Order.total, Order.currency, currency)
    orders = _live(select(Order.customer_id.label("customer_id"),
                          days_between(as_date(as_of), func.max(Order.order_date)).label("recency_days"),
                          func.count(Order.id).label("frequency"),
                          func.coalesce(func.sum(amount), 0).label("monetary"),
                          days_between(as_date(as_of), func.min(Order.order_date)).label("tenure_days"),
                          days_between(func.max(Order.order_date), func.min(Order.order_date)).label("span_days"))
                   .where(sold_orders(as_of), convertible(ctx, currency))).group_by(Order.customer_id).subquery("orders")
    lines = (select(Order.customer_id.label("customer_id"), func.count(OrderLine.id).label("lines"),
                    func.sum(case((discounted(), 1), else_=0)).label("discounted"))
             .select_from(OrderLine).join(Order, Order.id == OrderLine.order_id)
             .where(sold_orders(as_of), convertible(ctx, currency))
             .group_by(Order.customer_id).subquery("lines"))
    gap = case((orders.c.frequency > 1, cast(orders.c.span_days, Float) / (orders.c.frequency - 1)), else_=None)
    share = case((lines.c.lines > 0, cast(lines.c.discounted, Float) / lines.c.lines), else_=0.0)
    return (select(orders.c.customer_id, orders.c.recency_days, orders.c.frequency, orders.c.monetary,
                   orders.c.tenure_days, gap.label("avg_gap_days"), func.coalesce(share, 0.0).label("discount_share"))
            .join(lines, lines.c.customer_id == orders.c.customer_id, isouter=True)).subquery("features")
