"""Fixtures of the social plugin's tests: the app with sales and social loaded like third parties, referral
chains built through the services, and paid orders (an order, its invoice, a payment of the whole)."""
from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, Callable

import pytest

from plugins.sales import models as sales_models  # noqa: F401 - the tables are on the metadata before the database
from plugins.social import models  # noqa: F401


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=["plugins.sales", "plugins.social"])


_numbers = itertools.count(1)


@pytest.fixture
def paid_order(ctx: Any) -> Callable[..., Any]:
    """``paid_order(customer, "100", currency="CNY", paid=True)`` -> the order, with an invoice (paid in full)."""
    from plugins.sales.services import orders

    def factory(customer: Any, amount: str, currency: str = "CNY", paid: bool = True) -> Any:
        n = next(_numbers)
        order = orders.record_order(ctx, {"number": f"SO-S{n}", "customer_id": customer.id,
                                          "order_date": "2026-03-01", "currency": currency,
                                          "lines": [{"description": "货品", "unit_price": amount}]})
        invoice = orders.record_invoice(ctx, {"number": f"INV-S{n}", "customer_id": customer.id, "order_id": order.id,
                                              "invoice_date": "2026-03-02", "due_date": "2026-04-01",
                                              "amount_total": amount, "currency": currency})
        if paid:
            orders.record_payment(ctx, invoice.id, {"paid_on": dt.date(2026, 3, 3).isoformat(), "amount": amount,
                                                    "currency": currency})
        return order

    return factory


@pytest.fixture
def refer(ctx: Any, make_customer: Callable[..., Any]) -> Callable[..., Any]:
    """``refer(referrer, "新客户", phone=...)`` -> a new customer created with the referrer's code."""
    from plugins.social.services.codes import code_for

    def factory(referrer: Any, name: str, **data: Any) -> Any:
        code = code_for(ctx, customer_id=referrer.id).code
        return make_customer(name, referral_code=code, **data)

    return factory
