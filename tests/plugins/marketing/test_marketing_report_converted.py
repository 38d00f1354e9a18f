"""A campaign message's ``converted`` as a report field: an order (not cancelled) by the recipient's customer within
the attribution window after the campaign's start, computed in SQL; the same numbers as the campaign's results page
(sent and held out), at the window's edges and across the UTC day of the start."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Callable

import pytest
from sqlalchemy import select

from plugins.marketing import labels
from plugins.marketing.models import Campaign, Recipient
from plugins.marketing.services import audiences, campaigns, results, templates
from plugins.reports import models as report_models  # noqa: F401 - the tables are on the metadata
from plugins.reports.services import definition as d, query


def _campaign(ctx: Any, name: str, customers: list[Any]) -> Any:
    audience = audiences.create_audience(ctx, {"name": name})
    audiences.add_members(ctx, audience.id, [c.code for c in customers])
    template = templates.create_template(ctx, {"name": name, "subject": name, "text": "你好"})
    campaign = campaigns.create_campaign(ctx, {"name": name, "audience_id": audience.id, "template_id": template.id})
    campaigns.start(ctx, campaign.id)
    campaigns.send_campaign(ctx, campaign.id)
    return campaign


@pytest.fixture
def app(make_app: Callable[..., Any], smtp_server: Any) -> Any:
    _inbox, port = smtp_server
    return make_app(PLUGINS=["plugins.sales", "plugins.marketing", "plugins.reports"], MARKETING_SMTP_HOST="127.0.0.1",
                    MARKETING_SMTP_PORT=str(port), MARKETING_FROM="news@shop.example",
                    MARKETING_PUBLIC_URL="https://crm.shop.example")


def run(ctx: Any, definition: dict[str, Any]) -> dict[Any, Any]:
    values = d.validate_report(ctx, {"name": "R", **definition}, None)
    return {row["cells"][0]: row["values"][0] for row in query.run(ctx, d.complete(values)).rows}


def test_converted_messages_are_the_results_pages_conversions(ctx: Any, subscriber: Any) -> None:
    from plugins.sales.models import Order

    start = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.timezone.utc)  # 3 月 2 日 in Beijing: the UTC day counts
    orders = {"当天下单": [("2026-03-01", "confirmed")], "窗口最后一天": [("2026-03-15", "confirmed")],
              "窗口之后": [("2026-03-16", "confirmed")], "开始之前": [("2026-02-28", "confirmed")],
              "取消的订单": [("2026-03-05", "cancelled")], "两单": [("2026-03-03", "confirmed"), ("2026-03-04", "draft")],
              "对照组下单": [("2026-03-10", "confirmed")], "对照组未下单": [], "没下单": []}
    people = {name: subscriber(name, f"c{i}@example.cn") for i, name in enumerate(orders)}
    campaign = _campaign(ctx, "三月促销", list(people.values()))
    n = 0
    for name, rows in orders.items():
        for day, status in rows:
            n += 1
            ctx.session.add(Order(number=f"M-{n}", customer_id=people[name].id, owner_id=people[name].owner_id,
                                  order_date=dt.date.fromisoformat(day), currency="CNY", total=Decimal("10"),
                                  status=status))
    ctx.session.get(Campaign, campaign.id).started_at = start
    for name in ("对照组下单", "对照组未下单"):  # the control group: held out, never sent
        held = ctx.session.scalar(select(Recipient).where(Recipient.campaign_id == campaign.id,
                                                          Recipient.customer_id == people[name].id))
        held.status, held.sent_at = "held_out", None
    ctx.session.commit()

    page = results.report(ctx, campaign.id)["conversions"]
    converted = run(ctx, {"entity": "campaign_message", "group_by": [{"field": "status"}],
                          "measures": [{"agg": "count"}], "filters": {"field": "converted", "op": "is_true"}})
    sent, held_out = str(labels.RECIPIENT_STATES["sent"]), str(labels.RECIPIENT_STATES["held_out"])
    assert converted == {sent: page["sent"], held_out: page["held_out"]}
    assert (page["sent"], page["held_out"]) == (3, 1)  # on the day, on the window's last day, the one of two orders
    # the field as a group: every message once, yes or no, over the whole campaign
    every = run(ctx, {"entity": "campaign_message", "group_by": [{"field": "converted"}], "measures": [{"agg": "count"}]})
    assert sum(every.values()) == len(orders) and sorted(every.values()) == [4, 5]


def test_converted_has_its_words(client: Any, make_user: Any) -> None:
    _m, headers = make_user("manager")
    for lang, words in (("zh_CN", "在归因窗口内下单"), ("en", "Ordered within the attribution window")):
        body = client.get("/api/v1/meta/entities/campaign_message", headers={**headers, "Accept-Language": lang}).json
        assert {f["name"]: f for f in body["fields"]}["converted"]["label"] == words
