"""The sales demo has a coupon programme, a batch of codes and a code used on an order."""
from __future__ import annotations

from decimal import Decimal

from crmcore.demo import load_demo as core_demo
from plugins.sales.models import Order
from plugins.sales.services import coupons
from plugins.sales.services.demo import load_demo


def test_the_demo_uses_a_coupon_on_an_order(ctx):
    core_demo(ctx)
    assert "coupon" in load_demo(ctx)
    order = ctx.session.query(Order).filter_by(number="DEMO-SO-6").one()
    assert order.coupon_code and order.coupon_discount == Decimal("20.00")
    assert order.total == Decimal("776.00")  # 2 x 398 less 20
    [report] = coupons.usage(ctx)
    assert (report["name"], report["issued"], report["redeemed"]) == ("会员日立减 20 元", 21, 1)
