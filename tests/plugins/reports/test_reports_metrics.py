"""Metrics are reports: with the reports plugin a metric's value (API and KPI page) is its report's number, for
each kind (count, sum, average), under the reader's record rules, in the asked currency; the same number the
sales plugin computes on its own when reports is absent; a report of the metric's name is what the metric shows."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

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
    assert [v["report"] for v in company.values()] == ["orders", "big_total", "avg_total", "lead_amount"]

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


def test_the_metric_is_its_report(client, ctx, admin_headers, orders):
    """A metric written through the sales API is written to its report (created, changed, shared, deleted); the
    report is the definition: change it, the metric's value follows."""
    from plugins.reports.models import Report

    metric_id = _metric(client, admin_headers, "march_total", "sum", "total")
    report = ctx.session.scalar(select(Report).where(Report.name == "march_total"))
    assert (report.entity, report.filters, report.measures) == ("order", None, [{"agg": "sum", "field": "total"}])
    assert [(s.role_id is not None, s.user_id) for s in report.shares] == [(True, None)]
    assert _value(client, admin_headers, metric_id)["value"] == "300.55"  # 100+30+55.55+70+45
    r = client.patch(f"/api/v1/reports/{report.id}", json={"filters": BIG}, headers=admin_headers)
    assert r.status_code == 200, r.json
    answer = _value(client, admin_headers, metric_id)
    assert (answer["value"], answer["report"]) == ("200.55", "march_total")

    ann, _ = orders["ann"]
    r = client.patch(f"/api/v1/sales/metrics/{metric_id}", json={"name": "total_march", "aggregate": "count",
                                                                 "shares": [{"user_id": ann.id}]},
                     headers=admin_headers)
    assert r.status_code == 200, r.json
    ctx.session.expire_all()
    report = ctx.session.scalar(select(Report).where(Report.name == "total_march"))
    # the filters the report was given stay (the metric showed them as its conditions); the measure is changed
    assert report.measures == [{"agg": "count", "field": None}] and report.filters == BIG
    assert [(s.role_id, s.user_id) for s in report.shares] == [(None, ann.id)]
    assert ctx.session.scalar(select(Report).where(Report.name == "march_total")) is None
    assert client.delete(f"/api/v1/sales/metrics/{metric_id}", headers=admin_headers).status_code == 204
    ctx.session.expire_all()
    assert ctx.session.scalars(select(Report)).all() == []


def test_a_persons_report_of_that_name_is_left_alone_and_shown(client, ctx, admin_headers, orders):
    from plugins.reports.models import Report

    r = client.post("/api/v1/reports", json={"name": "mine", "entity": "order", "filters": BIG,
                                             "measures": [{"agg": "count"}]}, headers=admin_headers)
    assert r.status_code == 201, r.json
    metric_id = _metric(client, admin_headers, "mine", "count")
    answer = _value(client, admin_headers, metric_id)
    assert (answer["value"], answer["report"]) == (4, "mine")  # the report's big orders, not all 6
    assert client.delete(f"/api/v1/sales/metrics/{metric_id}", headers=admin_headers).status_code == 204
    assert client.get(f"/api/v1/reports/{r.json['id']}", headers=admin_headers).status_code == 200

    # a metric renamed onto a person's report: its own report goes, the person's is what it shows
    other = _metric(client, admin_headers, "other", "count")
    assert ctx.session.scalar(select(Report.id).where(Report.name == "other")) is not None
    assert client.patch(f"/api/v1/sales/metrics/{other}", json={"name": "mine"}, headers=admin_headers).status_code == 200
    ctx.session.expire_all()
    assert [x.name for x in ctx.session.scalars(select(Report))] == ["mine"]
    assert _value(client, admin_headers, other)["value"] == 4


def test_kpi_page_shows_the_metric_from_its_report(client, ctx, orders, make_user):
    from plugins.reports.models import Report

    _, headers = make_user("admin", username="boss")
    _metric(client, headers, "big_orders", "count")  # every order; its report is changed to count the big ones
    report = ctx.session.scalar(select(Report).where(Report.name == "big_orders"))
    assert client.patch(f"/api/v1/reports/{report.id}", json={"filters": BIG}, headers=headers).status_code == 200
    admin_login(client, "boss")
    page = client.get("/admin/sales/kpis/?period=2026-03&currency=CNY").text
    card = page[page.index("Big_Orders"):][:400]
    assert ">4<" in card.replace(" ", "")  # 100, 55.55, 45 and the JPY order: what the report counts, not 6


def test_a_metric_shows_the_report_that_defines_it_and_edits_go_through_it(app, client, ctx, admin_headers, orders):
    from plugins.reports.models import Report

    metric_id = _metric(client, admin_headers, "big_ones", "count")
    report = ctx.session.scalar(select(Report).where(Report.name == "big_ones"))
    r = client.patch(f"/api/v1/reports/{report.id}", json={"filters": BIG, "measures": [{"agg": "sum", "field": "total"}]},
                     headers=admin_headers)
    assert r.status_code == 200, r.json
    shown = client.get(f"/api/v1/sales/metrics/{metric_id}", headers=admin_headers).json
    assert (shown["conditions"], shown["aggregate"], shown["field"]) == (BIG, "sum", "total")  # the report's, one truth
    assert shown["report"] == {"id": report.id, "name": "big_ones", "url": f"/api/v1/reports/{report.id}"}
    listed = {m["name"]: m for m in client.get("/api/v1/sales/metrics", headers=admin_headers).json}
    assert listed["big_ones"]["aggregate"] == "sum"
    # a change of the label keeps what the report says; a change of what it counts is written to the report
    assert client.patch(f"/api/v1/sales/metrics/{metric_id}", json={"label": "大单"}, headers=admin_headers).status_code == 200
    ctx.session.expire_all()
    assert (report.filters, report.measures) == (BIG, [{"agg": "sum", "field": "total"}])
    r = client.patch(f"/api/v1/sales/metrics/{metric_id}", json={"aggregate": "avg"}, headers=admin_headers)
    assert (r.status_code, r.json["aggregate"], r.json["conditions"]) == (200, "avg", BIG)
    ctx.session.expire_all()
    assert (report.filters, report.measures) == (BIG, [{"agg": "avg", "field": "total"}])
    # the admin's form shows the report's definition and links the report
    admin_login(client, "root")
    page = client.get(f"/admin/sales/metric/edit/?id={metric_id}").text
    assert f"/admin/reports/{report.id}/edit" in page and "&#34;gte&#34;" in page.replace("&quot;", "&#34;")
    assert 'class="condition-builder metric-conditions"' in page and "Conditions (JSON)" not in page  # no JSON to type


def test_a_persons_report_defines_the_metric_and_the_metric_may_not_change_it(client, ctx, admin_headers, orders):
    r = client.post("/api/v1/reports", json={"name": "theirs", "entity": "order", "filters": BIG,
                                             "measures": [{"agg": "count"}]}, headers=admin_headers)
    assert r.status_code == 201, r.json
    metric_id = _metric(client, admin_headers, "theirs", "sum", "total")
    shown = client.get(f"/api/v1/sales/metrics/{metric_id}", headers=admin_headers).json
    assert (shown["conditions"], shown["aggregate"], shown["field"], shown["report"]["name"]) == (BIG, "count", None,
                                                                                                   "theirs")
    refused = client.patch(f"/api/v1/sales/metrics/{metric_id}", json={"conditions": None}, headers=admin_headers)
    assert refused.status_code == 422
    assert "theirs" in refused.json["errors"]["conditions"][0]
    assert client.patch(f"/api/v1/sales/metrics/{metric_id}", json={"label": "Theirs", "aggregate": "count"},
                        headers=admin_headers).status_code == 200  # the same definition, another label: fine
    assert client.get(f"/api/v1/reports/{r.json['id']}", headers=admin_headers).json["filters"] == BIG


def test_the_metric_form_changes_a_report_defined_metric_through_its_report(client, ctx, admin_headers, orders):
    """The report filters on a field one hop away (the customer's level): the metric's form shows that definition,
    and a change of its label alone is saved (what it counts is not sent again); a change of what it counts goes to
    the report."""
    import json
    import re

    from crmcore.testing.admin import post_form
    from plugins.reports.models import Report
    from plugins.sales.models import Metric

    vip = {"field": "customer.level", "op": "eq", "value": "VIP"}
    metric_id = _metric(client, admin_headers, "vip_orders", "count")
    report = ctx.session.scalar(select(Report).where(Report.name == "vip_orders"))
    assert client.patch(f"/api/v1/reports/{report.id}", json={"filters": vip}, headers=admin_headers).status_code == 200
    admin_login(client, "root", lang="en")
    url = f"/admin/sales/metric/edit/?id={metric_id}"
    form = {"name": "vip_orders", "label": "VIP 订单", "entity": "order", "conditions": json.dumps(vip),
            "aggregate": "count", "field": ""}
    r = post_form(client, url, form)
    assert r.status_code == 302, re.findall(r"(?:alert-danger|invalid-feedback)[^<]*<[^<]*<[^<]*<[^<]*", r.text)
    ctx.session.expire_all()
    assert ctx.session.get(Metric, metric_id).label == "VIP 订单" and report.filters == vip
    r = post_form(client, url, {**form, "aggregate": "sum", "field": "total"})
    assert r.status_code == 302, re.findall(r"(?:alert-danger|invalid-feedback)[^<]*<[^<]*<[^<]*<[^<]*", r.text)
    ctx.session.expire_all()
    assert (report.filters, report.measures) == (vip, [{"agg": "sum", "field": "total"}])
