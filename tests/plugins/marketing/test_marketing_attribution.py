"""Attribution of orders to campaigns: within the window after a send, last touch and first touch across
campaigns, revenue in the base currency; in the results (API) and the campaign's report page."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update

from plugins.marketing.models import Recipient
from plugins.marketing.services import audiences, campaigns, results, templates
from plugins.sales.models import ExchangeRate
from plugins.sales.services import orders

DAY0 = dt.datetime(2026, 4, 1, 9, tzinfo=dt.timezone.utc)


def _sent(ctx: Any, name: str, customers: list[Any], at: dt.datetime) -> Any:
    audience = audiences.create_audience(ctx, {"name": name})
    audiences.add_members(ctx, audience.id, [c.code for c in customers])
    template = templates.create_template(ctx, {"name": name, "subject": name, "text": "你好"})
    campaign = campaigns.create_campaign(ctx, {"name": name, "audience_id": audience.id, "template_id": template.id})
    campaigns.start(ctx, campaign.id)
    campaigns.send_campaign(ctx, campaign.id)
    ctx.session.execute(update(Recipient).where(Recipient.campaign_id == campaign.id).values(sent_at=at))
    ctx.session.commit()
    return campaign


def _order(ctx: Any, number: str, customer: Any, day: int, amount: str, currency: str = "CNY") -> None:
    orders.record_order(ctx, {"number": number, "customer_id": customer.id, "currency": currency,
                              "order_date": DAY0.date() + dt.timedelta(days=day),
                              "lines": [{"description": "花束", "quantity": "1", "unit_price": amount}]})


def test_orders_are_credited_to_the_last_and_the_first_touch_within_the_window(
        ctx: Any, client: Any, subscriber: Any, make_user: Any) -> None:
    a, b, c, d = (subscriber(n, f"{n}@example.cn", stage="customer") for n in ("a", "b", "c", "d"))
    ctx.session.add(ExchangeRate(currency="USD", rate=7))
    ctx.session.commit()
    first = _sent(ctx, "三八节", [a, b, c, d], DAY0)
    second = _sent(ctx, "母亲节", [a, c], DAY0 + dt.timedelta(days=5))
    _order(ctx, "O-A", a, 7, "100")   # both touched it: last touch 母亲节, first touch 三八节
    _order(ctx, "O-B", b, 20, "50")   # 20 days after its only send: outside the 14-day window
    _order(ctx, "O-C", c, 5, "10", "USD")  # the day of the second send counts as after it: 70 CNY
    _order(ctx, "O-D", d, -1, "30")   # before any send: nobody's
    one = results.report(ctx, first.id)["attribution"]
    two = results.report(ctx, second.id)["attribution"]
    assert one["last_touch"] == {"orders": 0, "revenue": "0.00"}
    assert one["first_touch"] == {"orders": 2, "revenue": "170.00"} and one["currency"] == "CNY"
    assert two["last_touch"] == {"orders": 2, "revenue": "170.00"}
    assert two["first_touch"] == {"orders": 0, "revenue": "0.00"}
    _m, manager = make_user("manager")
    r = client.get(f"/api/v1/marketing/campaigns/{second.id}/results", headers=manager)
    assert r.status_code == 200 and r.json["attribution"]["last_touch"]["orders"] == 2
    assert results.report(ctx, first.id, window_days=30)["attribution"]["first_touch"]["orders"] == 3  # O-B too


def test_the_report_page_and_the_cli_show_the_attribution(app: Any, ctx: Any, subscriber: Any) -> None:
    from crmcore.services import users as user_svc
    from crmcore.testing.admin import admin_login

    a = subscriber("a", "a@example.cn", stage="customer")
    campaign = _sent(ctx, "母亲节", [a], DAY0)
    _order(ctx, "O-A", a, 3, "88")
    user_svc.create_user(ctx, "mia", "password123", "manager", email="mia@shop.example")
    page = admin_login(app.test_client(), "mia", lang="zh_CN").get(f"/admin/marketing/campaigns/{campaign.id}").text
    assert '<tr class="last-touch"><th>最后触达</th><td class="text-right">1</td><td class="text-right">88.00</td>' in page
    assert '<tr class="first-touch"><th>首次触达</th>' in page
    from plugins.marketing.cli import marketing

    out = app.test_cli_runner().invoke(marketing, ["report", str(campaign.id)]).output
    assert "Last touch: 1 orders, revenue 88.00 CNY." in out
