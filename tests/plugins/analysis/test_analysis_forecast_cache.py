"""A limited reader's forecast is kept, not fitted on every page view: computed once, used again while nothing it
reads changed; an order or opportunity written (with its event) or an order added without one computes it again."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from plugins.analysis.models import ModelFit
from plugins.analysis.services import forecast

from test_analysis_forecast import _month, history  # noqa: F401 - the fixture


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a forecast was fitted."""
    calls: list[int] = []
    real = forecast.compute

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(forecast, "compute", counting)
    return calls


def _revenue(result: dict[str, Any]) -> float:
    return float(sum(result["series"][0]["history"]))


def test_a_reps_forecast_is_kept_until_an_order_or_opportunity_changes(
        rt: Any, ctx: Any, history: dict[str, Any], make_user: Any, computed: list[int]) -> None:  # noqa: F811
    from crmcore.services.customers import update_customer
    from plugins.sales.models import Order, OrderLine
    from plugins.sales.services.opportunities import create_opportunity
    from plugins.sales.services.orders import record_order

    rep, _headers = make_user("sales")
    update_customer(ctx, history["b"].id, {"owner_id": rep.id})

    def view() -> dict[str, Any]:
        return forecast.latest(rt.context(actor=rep, source="test"))

    first = view()
    assert computed == [1] and first["scope"] == "own" and first["computed_at"]
    again = view()
    assert computed == [1] and again == first  # kept: not fitted again
    assert ctx.session.scalars(select(ModelFit.kind)).all() == [f"fc:own:{rep.id}"]

    record_order(ctx, {"number": "NEW-1", "customer_id": history["b"].id, "status": "confirmed", "currency": "CNY",
                       "order_date": _month(3).isoformat(), "lines": [{"description": "x", "quantity": 1,
                                                                     "unit_price": "1000.00"}]})
    after_order = view()
    assert computed == [1, 1] and _revenue(after_order) == pytest.approx(_revenue(first) + 1000)

    create_opportunity(ctx, {"name": "大单", "customer_id": history["b"].id, "amount": "500", "currency": "CNY"})
    assert ctx.session.scalars(select(ModelFit.kind)).all() == []  # the event dropped it
    view()
    assert len(computed) == 3

    # an order written without an event (a bulk load): the highest order id is part of the key
    row = Order(number="BULK-1", customer_id=history["b"].id, owner_id=rep.id, order_date=_month(2), currency="CNY",
                total=Decimal("7"), status="confirmed")
    row.lines = [OrderLine(description="y", quantity=Decimal(1), unit_price=Decimal(7), line_total=Decimal(7))]
    ctx.session.add(row)
    ctx.session.commit()
    bulk = view()
    assert len(computed) == 4 and _revenue(bulk) == pytest.approx(_revenue(after_order) + 7)


def test_a_kept_forecast_is_recomputed_after_its_freshness(rt: Any, ctx: Any, history: dict[str, Any],  # noqa: F811
                                                          make_user: Any, computed: list[int]) -> None:
    rep, _headers = make_user("sales")
    reader = rt.context(actor=rep, source="test")
    forecast.latest(reader)
    fit = ctx.session.scalar(select(ModelFit).where(ModelFit.kind == f"fc:own:{rep.id}"))
    fit.created_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=61)  # older than the 60 minutes
    ctx.session.commit()
    forecast.latest(rt.context(actor=rep, source="test"))
    assert len(computed) == 2
