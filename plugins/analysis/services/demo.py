"""Demo history for the analyses: two years of orders for the demo customers, so `crm demo`
leaves segments, lifetime values, a churn model and basket rules to look at (idempotent)."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from crmcore.errors import CRMError
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from plugins.sales.models import Order, Product
from plugins.sales.services import orders

PREFIX = "DEMO-H-"
# purchases per year by customer, cycled over the demo customers: loyal buyers, occasional ones,
# one-off buyers and customers who stopped buying a year ago
RHYTHMS = (10, 6, 3, 1, 8, 2, 0, 5, 4, 1, 12, 2, 6, 3)


def load_demo(ctx: ServiceContext, today: dt.date | None = None, seed: int = 20261202) -> str:
    """Add the history unless it is there, then run RFM, CLV, churn and basket once."""
    if ctx.session.scalar(select(func.count()).select_from(Order).where(Order.number.like(PREFIX + "%"))):
        return "Analysis demo data is already there."
    products = list(ctx.session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.id)))
    customers = list(ctx.session.scalars(select(Customer).where(
        Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)).order_by(Customer.id)))
    if len(products) < 2 or not customers:
        return "Load the sales demo first: crm demo"
    rng = random.Random(seed)
    today = today or dt.date.today()
    count = 0
    for customer, per_year in zip(customers, RHYTHMS * (len(customers) // len(RHYTHMS) + 1), strict=False):
        if not per_year:
            continue
        stopped = today - dt.timedelta(days=400) if per_year == 1 else today - dt.timedelta(days=rng.randint(0, 40))
        day = today - dt.timedelta(days=rng.randint(600, 730))
        while day <= stopped:
            first, second = rng.sample(products, 2)
            lines = [_line(first, rng)] + ([_line(second, rng)] if rng.random() < 0.45 else [])
            count += 1
            # priced from the catalogue, so in its currency (not the customer's: a USD customer's order
            # of CNY prices would be a USD amount without a rate, left out of every analysis)
            orders.record_order(ctx, {"number": f"{PREFIX}{count:05d}", "customer_id": customer.id,
                                      "order_date": day, "source": "erp", "lines": lines,
                                      "currency": first.currency})
            day += dt.timedelta(days=max(7, int(rng.expovariate(per_year / 365))))
    return f"Analysis demo data: {count} orders over two years; {_run(ctx, today)}."


def _line(product: Product, rng: random.Random) -> dict[str, Any]:
    listed = product.list_price or Decimal("100")
    discount = rng.choice((0, 0, 0, 5, 10, 15))
    return {"product_id": product.id, "quantity": str(rng.randint(1, 20)),
            "unit_price": str((listed * (100 - discount) / 100).quantize(Decimal("0.01"))), "list_price": str(listed)}


def _run(ctx: ServiceContext, today: dt.date) -> str:
    from . import basket, churn, clv, forecast, rfm

    done = []
    for name, step in (("RFM", rfm.run_rfm), ("CLV", clv.run_clv), ("churn", churn.run_churn),
                       ("basket rules", basket.run_basket), ("forecast", forecast.run_forecast)):
        try:
            step(ctx, today)
            done.append(name)
        except CRMError as exc:  # too little history for a model: say so, keep the rest
            ctx.session.rollback()
            done.append(f"{name} skipped ({exc.message})")
    return "analyses run: " + ", ".join(done)
