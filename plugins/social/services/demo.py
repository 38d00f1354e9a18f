"""The demo's referral chain: 杭州西湖龙井茶业 brought 上海浦江物流, which brought 广州白云服装批发行; both new
customers have a paid order, so the social value shows two levels and the first referral has its rewards."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from crmcore.models import Customer
from crmcore.runtime import ServiceContext

from ..models import Referral
from .codes import code_for
from .referrals import record_referral
from .value import recompute_all

CHAIN = ("HZ001", "SH002", "GZ001")  # each brought the next
ORDERS = {"SH002": "12800.00", "GZ001": "6400.00"}


def load_demo(ctx: ServiceContext) -> str:
    from plugins.sales.services import orders

    customers = {c.code: c for c in ctx.session.scalars(select(Customer).where(Customer.code.in_(CHAIN)))}
    if len(customers) < len(CHAIN):
        return "Load the core demo first: crm demo"
    if ctx.session.scalar(select(Referral.id).where(Referral.referee_customer_id == customers["SH002"].id)):
        return "Social demo data is already there."
    for referrer, referee in zip(CHAIN[:-1], CHAIN[1:], strict=True):
        record_referral(ctx, code_for(ctx, customer_id=customers[referrer].id).code,
                        customer_id=customers[referee].id, source="wechat")
    code_for(ctx, customer_id=customers["GZ001"].id)
    today = dt.date.today()
    for n, (code, amount) in enumerate(ORDERS.items(), start=1):
        customer = customers[code]
        order = orders.record_order(ctx, {"number": f"DEMO-SOC-{n}", "customer_id": customer.id, "order_date": today,
                                          "lines": [{"description": "推荐客户首单", "unit_price": amount}]})
        invoice = orders.record_invoice(ctx, {"number": f"DEMO-SOC-INV-{n}", "customer_id": customer.id,
                                              "order_id": order.id, "invoice_date": today,
                                              "due_date": today + dt.timedelta(days=30), "amount_total": amount})
        orders.record_payment(ctx, invoice.id, {"paid_on": today, "amount": amount})
    recompute_all(ctx)
    ctx.session.commit()
    return "Social demo: a referral chain of three customers, their paid first orders and pending rewards."
