"""Demo sales data on top of the core's demo (``crm demo`` first, then ``crm sales demo``):
products, a price list, opportunities in every stage, orders, invoices with payments, visits and
this month's plans, so the board and the KPI dashboard have something to show. Idempotent."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from crmcore.db import utcnow
from crmcore.models import Customer, User
from crmcore.runtime import ServiceContext

from ..models import Product
from . import activities, catalog, opportunities, orders, quotes, stages, targets

PRODUCTS = [("TEA-01", "西湖龙井 250g", "茶叶", "168"), ("TEA-02", "礼盒装龙井 500g", "茶叶", "398"),
            ("PKG-01", "物流包装服务", "服务", "50"), ("EL-01", "蓝牙耳机", "电子", "299"),
            ("EL-02", "充电宝 20000mAh", "电子", "129")]
DEALS = [("HZ001", "lisi", "Visit", "12000"), ("SH002", "zhaoliu", "Proposal", "30000"),
         ("SZ001", "wangfang", "Negotiation", "45000"), ("BJ001", "lisi", "Contract", "8000"),
         ("GZ001", "zhaoliu", "Won", "20000"), ("ZS001", "lisi", "Lost", "15000")]


def load_demo(ctx: ServiceContext) -> str:
    """Add the demo sales data unless the demo products already exist; return a summary."""
    if ctx.session.scalar(select(Product.id).where(Product.code == PRODUCTS[0][0])):
        return "Sales demo data is already there."
    customers = {c.code: c for c in ctx.session.scalars(select(Customer).where(Customer.code.in_([d[0] for d in DEALS])))}
    users = {u.username: u for u in ctx.session.scalars(select(User))}
    if len(customers) < len(DEALS) or "lisi" not in users:
        return "Load the core demo first: crm demo"
    products = [catalog.create_product(ctx, {"code": c, "name": n, "category": cat, "list_price": p})
                for c, n, cat, p in PRODUCTS]
    catalog.save_price_list(ctx, {"name": "经销商价", "items": [{"product_id": products[0].id, "price": "150"}]})
    by_name = {s.name: s for s in stages.list_stages(ctx)}
    today = dt.date.today()
    start = utcnow() - dt.timedelta(days=40)
    for code, owner, stage, amount in DEALS:
        cust, user = customers[code], users[owner]
        opp = opportunities.create_opportunity(ctx, {
            "name": f"{cust.name} 采购", "customer_id": cust.id, "owner_id": user.id, "amount": amount,
            "expected_close_date": today + dt.timedelta(days=20)}, at=start)
        if stage != "Visit":
            extra = {"lost_reason": "价格", "competitor": "某竞争对手"} if stage == "Lost" else {}
            opportunities.move_stage(ctx, opp.id, by_name[stage].id, at=start + dt.timedelta(days=38), **extra)
        activities.create_activity(ctx, {"kind": "visit", "subject": "拜访客户", "customer_id": cust.id,
                                         "owner_id": user.id, "status": "done", "outcome": "success"
                                         if stage != "Lost" else "failure"})
    for i, (code, _owner, _stage, _amount) in enumerate(DEALS[:5]):
        cust = customers[code]
        order = orders.record_order(ctx, {"number": f"DEMO-SO-{i + 1}", "customer_id": cust.id,
                                          "order_date": today - dt.timedelta(days=3 * i), "source": "erp", "lines": [
                                              {"product_id": products[i].id, "quantity": "10",
                                               "unit_price": str(products[i].list_price * 9 / 10),
                                               "list_price": str(products[i].list_price)}]})
        invoice = orders.record_invoice(ctx, {"number": f"DEMO-INV-{i + 1}", "customer_id": cust.id,
                                              "order_id": order.id, "invoice_date": order.order_date,
                                              "due_date": today, "amount_total": str(order.total)})
        if i % 2 == 0:
            orders.record_payment(ctx, invoice.id, {"paid_on": today, "amount": str(order.total / 2),
                                                    "reference": f"DEMO-PAY-{i + 1}"})
    for name in ("lisi", "zhaoliu", "emma"):
        if name in users:
            targets.set_target(ctx, {"year": today.year, "month": today.month, "user_id": users[name].id,
                                     "amount": "5000"})
    pending = _approval_demo(ctx, customers[DEALS[0][0]], users[DEALS[0][1]], products[0])
    _lead_form_demo(ctx)
    _coupon_demo(ctx, customers[DEALS[0][0]], products)
    return (f"Sales demo data: {len(PRODUCTS)} products, {len(DEALS)} opportunities, 5 orders and invoices, "
            f"a discount approval policy, {pending} quote waiting for the manager's approval, a lead form and a "
            "coupon programme with a code used on an order.")


def _coupon_demo(ctx: ServiceContext, customer: Customer, products: list[Product]) -> None:
    """A members' coupon programme (¥20 off tea from ¥100), a batch of codes, one code issued to a customer
    and used on an order (Sales → Coupon codes and usage shows it)."""
    from . import coupons

    today = dt.date.today()
    programme = coupons.save_programme(ctx, {
        "name": "会员日立减 20 元", "description": "茶叶满 100 元减 20 元，每位客户限用一次。", "amount": "20",
        "currency": customer.currency or ctx.settings["DEFAULT_CURRENCY"], "min_spend": "100",
        "categories": ["茶叶"], "valid_from": (today - dt.timedelta(days=7)).isoformat(),
        "valid_until": (today + dt.timedelta(days=60)).isoformat(),
        "per_customer_limit": 1})
    coupons.generate_codes(ctx, programme.id, {"count": 20, "batch": "会员日"})
    code = coupons.issue_coupon(ctx, programme.id, customer.id, source="demo").code
    orders.record_order(ctx, {"number": "DEMO-SO-6", "customer_id": customer.id, "order_date": today,
                              "currency": programme.currency, "coupon_code": code,
                              "lines": [{"product_id": products[1].id, "quantity": "2",
                                         "unit_price": str(products[1].list_price)}]})


def _lead_form_demo(ctx: ServiceContext) -> None:
    """The website's enquiry form (Sales → Lead forms shows its address and the snippet to embed)."""
    from . import lead_forms

    lead_forms.create_form(ctx, {
        "name": "官网咨询", "title": "预约产品顾问", "intro": "留下联系方式，产品顾问将在一个工作日内与您联系。",
        "asked": [{"field": "company"}, {"field": "phone", "required": True}, {"field": "wechat"},
                  {"field": "message"}],
        "consent_text": "我同意贵公司为答复本次咨询并向我介绍产品而使用我填写的联系方式，我可以随时要求停止联系。",
        "thank_you_title": "提交成功", "thank_you_text": "感谢您的关注，我们会尽快与您联系。", "campaign": "官网"})


def _approval_demo(ctx: ServiceContext, customer: Customer, rep: User, product: Product) -> int:
    """The approval example: quotes discounted more than 15% need the rep's manager (internal
    provider); one such quote waits in the manager's inbox. Returns how many quotes wait."""
    from crmcore.services import approvals

    if approvals.policy_for(ctx, "quote", "submit") is None:
        approvals.create_policy(ctx, {
            "name": "报价折扣超过 15% 需经理审批", "entity": "quote", "action": "submit", "provider": "internal",
            "key_fields": ["total"],
            "tiers": [{"step": 1, "condition": {"predicate": "sales.quote.discount_over", "args": {"percent": 15}},
                       "reviewers": [{"kind": "manager_of", "value": "owner_id"}]}]})
    quote = quotes.create_quote(ctx, {"customer_id": customer.id, "owner_id": rep.id, "lines": [
        {"product_id": product.id, "description": product.name, "quantity": "20",
         "unit_price": str(product.list_price), "discount_percent": "20"}]})
    return 1 if quotes.submit_quote(ctx, quote.id).status == "pending_approval" else 0
