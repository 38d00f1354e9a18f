"""Cohort retention, loyalty factors (repeat purchases, time between purchases, discount share),
association rules with exact support / confidence / lift feeding the sales cross-sell hook, and
the churn model's time split."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crmcore.errors import ValidationError
from plugins.analysis.models import ChurnScore, ModelFit
from plugins.analysis.services import basket, churn, loyalty
from plugins.sales.models import Order, OrderLine
from plugins.sales.services import suggestions

AS_OF = dt.date(2026, 6, 30)  # the conftest builders date orders back from this day


def test_cohort_table_and_loyalty_factors(ctx: Any, make_customer: Any, buy: Any) -> None:
    a, b, c, d = (make_customer(n) for n in "ABCD")
    # cohort 2026-04: a buys in April, May, June; b only in April (once on discount)
    for days_ago in (80, 50, 20):
        buy(a, days_ago, "100.00")
    buy(b, 75, "100.00", discount=10)
    # cohort 2026-05: c in May and June; d in May twice
    buy(c, 45, "50.00")
    buy(c, 5, "50.00", discount=5)
    buy(d, 40, "10.00")
    buy(d, 35, "10.00")
    table = loyalty.cohort_table(ctx, AS_OF, months=3)
    assert table == [
        {"cohort": "2026-04", "size": 2, "active": [2, 1, 1], "retention": [1.0, 0.5, 0.5]},
        {"cohort": "2026-05", "size": 2, "active": [2, 1], "retention": [1.0, 0.5]},
    ]
    assert [r["cohort"] for r in loyalty.cohort_table(ctx, AS_OF, months=2)] == ["2026-05"]
    summary = loyalty.loyalty_summary(ctx, AS_OF)
    assert summary["customers"] == 4 and summary["repeat_customers"] == 3
    assert summary["repeat_purchase_rate"] == 0.75
    # gaps: a 60 days over 2, c 40 over 1, d 5 over 1 -> 105 / 4
    assert summary["mean_days_between_purchases"] == 26.2
    assert (summary["order_lines"], summary["discounted_lines"], summary["discount_share"]) == (8, 2, 0.25)


def test_association_rules_and_cross_sell(app: Any, ctx: Any, make_customer: Any, make_product: Any, buy: Any) -> None:
    tea, cup, pot, honey = (make_product(n) for n in ("Tea", "Cup", "Teapot", "Honey"))
    shoppers = [make_customer(f"Shopper {i}") for i in range(6)]
    baskets = [[tea, cup], [tea, cup, pot], [tea, pot], [tea, cup], [cup], [honey]]
    for who, items in zip(shoppers, baskets, strict=True):
        buy(who, 10, products=items)
    result = basket.run_basket(ctx, AS_OF, min_pairs=2, min_confidence=0.1)
    rules = {(r["antecedent"], r["consequent"]): r for r in basket.top_rules(ctx, limit=50)}
    assert result["rules"] == len(rules) == 4  # tea<->cup (3 orders), tea<->pot (2 orders)
    tc = rules[("Tea", "Cup")]
    # 6 orders; tea in 4, cup in 4, both in 3: support 3/6, confidence 3/4, lift 0.75 / (4/6)
    assert (tc["orders"], tc["support"], tc["confidence"], tc["lift"]) == (3, 0.5, 0.75, 1.125)
    tp = rules[("Teapot", "Tea")]
    assert (tp["confidence"], tp["lift"]) == (1.0, 1.5)
    # the sales plugin's suggestion service asks our crm_sales_cross_sell hook
    sixth = make_customer("Tea only")
    buy(sixth, 1, products=[tea])
    got = suggestions.for_customer(ctx, sixth.id)
    assert [(s["name"], s["score"]) for s in got] == [("Cup", 0.75), ("Teapot", 0.5)]  # by confidence
    assert got[0]["source"] == "analysis" and "Tea" in got[0]["reasons"][0]
    # a customer who has everything the rules suggest gets nothing more
    assert suggestions.for_customer(ctx, shoppers[1].id) == []


def _history(ctx: Any, seed: int = 7) -> dict[int, bool]:
    """60 customers buying every 10-60 days from 500 days back; half stop at a random day.
    Returns ``{customer_id: still buying}``. Rows are added directly (fast) as the ERP sync would."""
    from crmcore.services import customers as customer_svc

    rng = random.Random(seed)
    active = {}
    n = 0
    for i in range(60):
        customer = customer_svc.create_customer(ctx, {"name": f"Buyer {i}"})
        gap = rng.randint(10, 60)
        stops = 0 if i % 2 == 0 else rng.randint(0, 400)
        active[customer.id] = stops == 0
        day = 500 - rng.randint(0, gap)
        while day > stops:
            n += 1
            total = Decimal(rng.randint(20, 200))
            order = Order(number=f"H{n:06d}", customer_id=customer.id, order_date=AS_OF - dt.timedelta(days=day),
                          currency="CNY", status="delivered", total=total, source="erp")
            order.lines.append(OrderLine(description="goods", quantity=Decimal(1), unit_price=total, line_total=total,
                                         discount_percent=Decimal(rng.choice([0, 0, 10]))))
            ctx.session.add(order)
            day -= gap + rng.randint(-3, 3)
    ctx.session.commit()
    return active


def test_churn_model_by_time_split(ctx: Any) -> None:
    active = _history(ctx)
    result = churn.run_churn(ctx, AS_OF, window_days=90)
    assert result["train_cutoff"] == "2026-01-01" and result["test_cutoff"] == "2026-04-01"
    assert result["auc"] > 0.75  # recency and gaps separate those who stopped from those who did not
    scores = {s.customer_id: s for s in ctx.session.scalars(select(ChurnScore).where(ChurnScore.run_date == AS_OF))}
    assert set(scores) == set(active)
    for s in scores.values():
        assert 0 <= s.churn_score <= 1 and s.churn_score == pytest.approx(1 - s.purchase_probability)
    mean = lambda flag: sum(scores[c].churn_score for c, a in active.items() if a == flag) / sum(  # noqa: E731
        1 for a in active.values() if a == flag)
    assert mean(True) < mean(False)
    fit = ctx.session.scalar(select(ModelFit).where(ModelFit.kind == "churn"))
    assert fit.metrics["auc"] == pytest.approx(result["auc"]) and set(fit.params["coefficients"]) == set(churn.FEATURES)


def test_churn_needs_history(ctx: Any, make_customer: Any, buy: Any) -> None:
    buy(make_customer("Only one"), 3)
    with pytest.raises(ValidationError):
        churn.run_churn(ctx, AS_OF)
