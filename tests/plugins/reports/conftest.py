"""Fixtures of the reports plugin's tests: the app with sales and reports loaded like third parties, and a
small shop (reps, customers in provinces, orders in two currencies) to report on."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Callable

import pytest

from plugins.reports import models  # noqa: F401 - the tables are on the metadata before the database fixture
from plugins.sales import models as sales_models  # noqa: F401


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=["plugins.sales", "plugins.reports"])


@pytest.fixture
def shop(ctx: Any, make_customer: Callable[..., Any]) -> dict[str, Any]:
    """Two reps of team East; customers in 浙江 and 广东 (one VIP each); orders in CNY and one in USD (rate 7.00)."""
    from crmcore.services import contacts, users as user_svc
    from plugins.sales.models import ExchangeRate, Order, OrderLine

    ann = user_svc.create_user(ctx, "ann", None, "sales", team="East")
    bob = user_svc.create_user(ctx, "bob", None, "sales", team="East")
    ctx.session.add(ExchangeRate(currency="USD", rate=Decimal("7.00")))
    people = {}
    for name, owner, region, level in (("杭州茶庄", ann, "浙江省", "VIP"), ("宁波船厂", ann, "浙江省", None),
                                       ("广州酒家", bob, "广东省", "VIP")):
        customer = make_customer(name, owner, level=level)
        contacts.add_address(ctx, customer.id, {"line1": "1号", "city": "市", "region": region, "is_primary": True})
        people[name] = customer
    n = 0

    def order(customer: Any, day: dt.date, total: str, currency: str = "CNY") -> Any:
        nonlocal n
        n += 1
        row = Order(number=f"SO-{n}", customer_id=customer.id, owner_id=customer.owner_id, order_date=day,
                    currency=currency, total=Decimal(total), status="confirmed")
        row.lines = [OrderLine(description="茶", quantity=Decimal(1), unit_price=Decimal(total), line_total=Decimal(total))]
        ctx.session.add(row)
        return row

    order(people["杭州茶庄"], dt.date(2026, 1, 5), "100.00")
    order(people["杭州茶庄"], dt.date(2026, 2, 7), "50.00")
    order(people["宁波船厂"], dt.date(2026, 1, 9), "30.00")
    order(people["广州酒家"], dt.date(2026, 2, 1), "10.00", "USD")
    ctx.session.commit()
    return {"ann": ann, "bob": bob, **people}
