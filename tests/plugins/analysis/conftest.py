"""Fixtures of the analysis plugin's tests: the app with sales and analysis loaded by import path,
and a builder that records sold orders (with lines) through the sales plugin's service; the rest
comes from the testing kit (crmcore.testing)."""
from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, Callable

import pytest

from plugins.analysis import models as _analysis_models  # noqa: F401 - tables on the metadata early
from plugins.sales import models  # noqa: F401

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=["plugins.sales", "plugins.analysis"])


@pytest.fixture
def make_product(ctx: Any) -> Callable[..., Any]:
    from plugins.sales.services.catalog import create_product

    counter = itertools.count(1)

    def factory(name: str, price: str = "10.00", **data: Any) -> Any:
        return create_product(ctx, {"code": f"P{next(counter):03d}", "name": name, "list_price": price, **data})

    return factory


@pytest.fixture
def buy(ctx: Any) -> Callable[..., Any]:
    """``buy(customer, days_before_as_of, amount, products=[...], discount=0)`` -> a confirmed order."""
    from plugins.sales.services.orders import record_order

    counter = itertools.count(1)

    def factory(customer: Any, days_ago: int, amount: str | float = "100.00", products: list[Any] = (),
                discount: float = 0, status: str = "confirmed", as_of: dt.date = AS_OF) -> Any:
        n = next(counter)
        if products:
            lines = [{"product_id": p.id, "quantity": 1, "unit_price": str(p.list_price), "list_price": str(p.list_price),
                      "discount_percent": discount} for p in products]
        else:
            lines = [{"description": "goods", "quantity": 1, "unit_price": str(amount), "discount_percent": discount}]
        return record_order(ctx, {"number": f"SO{n:05d}", "customer_id": customer.id, "status": status,
                                  "order_date": (as_of - dt.timedelta(days=days_ago)).isoformat(), "lines": lines})

    return factory


@pytest.fixture
def crm_cli(app: Any) -> Any:
    """``crm_cli(["analyze", ...])`` runs a ``crm`` command with the app's plugins' commands registered."""
    from crmcore.cli import cli
    from crmcore.plugins import register_commands

    register_commands(app.extensions["crm"].pm, cli)
    runner = app.test_cli_runner()
    yield lambda args: runner.invoke(cli, args)
    cli.commands.pop("analyze", None)
