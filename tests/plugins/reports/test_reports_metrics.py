"""Metrics are reports: with the reports plugin a metric's value (API and KPI page) is its report's number, for
each kind (count, sum, average), under the reader's record rules, in the asked currency; the same number the
sales plugin computes on its own when reports is absent; a report of the metric's name is what the metric shows."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crmcore.testing.admin import admin_login

BIG = {"field": "total", "op": "gte", "value": 40}


@pytest.fixture
def orders(ctx, make_user, make_customer):
    from plugins.sales.models import ExchangeRate, Lead, Order

    ann, ha = make_user("sales", team="East")
    bob, hb = make_user("sales", team="East")
    ctx.session.add(ExchangeRate(currency="USD", rate=Decimal("7.00")))
    n = 0
    for owner, day, total, currency in ((ann, 5, "100.00", "CNY"), (ann, 9, "30.00", "CNY"), (ann, 20, "55.55", "CNY"),
                                        (bob, 2, "10.00", "USD"), (bob, 3, "45.00", "CNY"), (bob, 4, "99.00", "JPY")):
        n += 1
        customer = make_customer(f"客户{n}", owner)
        ctx.session.add(Order(number=f"SO-{n}", customer_id=customer.id, owner_id=owner.id, currency=currency,
                              order_date=dt.date(2026, 3, day), total=Decimal(total), status="confirmed"))
    ctx.session.add(Order(number="SO-april", customer_id=customer.id, owner_id=bob.id, currency="CNY",
                          order_date=dt.date(2026, 4, 1), total=Decimal("1000"), status="confirmed"))
    ctx.session.add(Lead(name="线索", owner_id=ann.id, estimated_amount=Decimal("5"),
                         created_at=dt.datetime(2026, 3, 15, 8, 0, tzinfo=dt.timezone.utc)))
    ctx.session.commit()
    return {"ann": (ann, ha), "bob": (bob, hb)}


def _metric(client, headers, name, aggregate, field=None, conditions=None, entity="order"):
    r = client.post("/api/v1/sales/metrics", json={
        "name": name, "label": name.title(), "entity": entity, "conditions": conditions, "aggregate": aggregate,
        "field": field, "shares": [{"role": "sales"}]}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json["id"]


def _value(client, headers, metric_id, period="2026-03", currency=""):
    r = client.get(f"/api/v1/sales/metrics/{metric_id}/value?period={period}{currency}", headers=headers)
    assert r.status_code == 200, r.json
    return r.json


def test_each_kind_is_its_report_number_under_record_rules(client, ctx, admin_headers, orders):
    from plugins.sales.models import Metric
    from plugins.sales.services import metrics
    from plugins.sales.services.metric_entities import ENTITIES
    from plugins.sales.services.periods import parse_period

    ids = {"count": _metric(client, admin_headers, "orders", "count"),
           "sum": _metric(client, admin_headers, "big_total", "sum", "total", BIG),
           "avg": _metric(client, admin_headers, "avg_total", "avg", "total"),
           "leads": _metric(client, admin_headers, "lead_amount", "sum", "estimated_amount", entity="lead")}
    (_, ha), (_, hb) = orders["ann"], orders["bob"]
    company = {k: _value(client, admin_headers, i) for k, i in ids.items()}
    assert [company[k]["value"] for k in ("count", "sum", "avg")] == [6, "200.55", "60.11"]  # JPY has no rate
    assert company["sum"]["excluded_currencies"] == ["JPY"] and company["count"]["excluded_currencies"] == []
    assert company["leads"]["value"] == "5.00"
    assert _value(client, admin_headers, ids["leads"], "2026-04")["value"] == "0.00"
    assert [_value(client, ha, ids[k])["value"] for k in ("count", "sum", "avg")] == [3, "155.55", "61.85"]
    assert [_value(client, hb, ids[k])["value"] for k in ("count", "sum", "avg")] == [3, "45.00", "57.50"]
    assert _value(client, admin_headers, ids["sum"], currency="&currency=USD")["value"] == "28.65"  # 200.55 / 7
    assert all(v["report"] is None for v in company.values())  # no saved report yet: the metric run as a report

    # the same numbers as the sales plugin's own query (what it answers without the reports plugin)
    period = parse_period("2026-03")
    for key, metric_id in ids.items():
        metric = ctx.session.get(Metric, metric_id)
        spec = ENTITIES[metric.entity]
        date = spec.column(spec.date)
        start, end = (period.start_utc, period.end_utc) if key == "leads" else (period.start, period.end)
        own = metrics._own_value(ctx, metric, spec, [date >= start, date < end], "CNY")
        answer = ctx.hook.crm_sales_metric_value(ctx=ctx, metric=metric, where=(date >= start, date < end),
                                                 currency="CNY")
        assert own == answer["value"] or Decimal(str(own)) == Decimal(str(answer["value"]))


def test_the_metric_shows_its_report(client, ctx, admin_headers, orders):
    """The report of the metric's name (made by the migration) is the definition: change it, the metric follows."""
    metric_id = _metric(client, admin_headers, "march_total", "sum", "total")
    assert _value(client, admin_headers, metric_id)["value"] == "300.55"  # 100+30+55.55+70+45
    r = client.post("/api/v1/reports", json={"name": "march_total", "entity": "order", "filters": BIG,
                                             "measures": [{"agg": "sum", "field": "total"}]}, headers=admin_headers)
    assert r.status_code == 201, r.json
    answer = _value(client, admin_headers, metric_id)
    assert (answer["value"], answer["report"]) == ("200.55", "march_total")


def test_kpi_page_shows_the_metric_from_its_report(client, orders, make_user):
    _, headers = make_user("admin", username="boss")
    _metric(client, headers, "big_orders", "count")  # every order; its report counts the big ones
    r = client.post("/api/v1/reports", json={"name": "big_orders", "entity": "order", "filters": BIG,
                                             "measures": [{"agg": "count"}]}, headers=headers)
    assert r.status_code == 201, r.json
    admin_login(client, "boss")
    page = client.get("/admin/sales/kpis/?period=2026-03&currency=CNY").text
    card = page[page.index("Big_Orders"):][:400]
    assert ">4<" in card.replace(" ", "")  # 100, 55.55, 45 and the JPY order: what the report counts, not 6
