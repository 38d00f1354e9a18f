"""Migration 0002_reports_metrics: each sales metric becomes a report with the same entity, condition and measure
(and shares); the report gives the metric's number for every kind (count, sum, average) under the same record rules;
downgrade removes those reports and keeps the metrics; on SQLite and PostgreSQL with real rows."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from alembic import command
from sqlalchemy import select

from crmcore import migrate
from crmcore.runtime import build_runtime
from crmcore.services import users as user_svc

BIG = {"field": "total", "op": "gte", "value": 40}
KINDS = (("order_count", "count", None, None), ("big_order_sum", "sum", "total", BIG),
         ("order_average", "avg", "total", {"field": "status", "op": "eq", "value": "confirmed"}))


def _seed(rt):
    from crmcore.services.customers import create_customer
    from plugins.sales.models import ExchangeRate, Order
    from plugins.sales.services import metrics

    ctx = rt.context(source="test")
    user_svc.seed_roles(ctx)
    ann = user_svc.create_user(ctx, "ann", None, "sales", team="East")
    bob = user_svc.create_user(ctx, "bob", None, "sales", team="East")
    ctx.session.add(ExchangeRate(currency="USD", rate=Decimal("7.00")))
    n = 0
    for owner, total, currency, status in ((ann, "100.00", "CNY", "confirmed"), (ann, "30.00", "CNY", "confirmed"),
                                           (ann, "55.55", "CNY", "draft"), (bob, "10.00", "USD", "confirmed"),
                                           (bob, "45.00", "CNY", "confirmed")):
        n += 1
        customer = create_customer(ctx, {"name": f"客户{n}", "owner_id": owner.id})
        ctx.session.add(Order(number=f"SO-{n}", customer_id=customer.id, owner_id=owner.id, currency=currency,
                              order_date=dt.date(2026, 1, n), total=Decimal(total), status=status))
    ctx.session.commit()
    for name, agg, field, cond in KINDS:
        metrics.create_metric(ctx, {"name": name, "label": f"标签 {name}", "entity": "order", "conditions": cond,
                                    "aggregate": agg, "field": field, "shares": [{"role": "sales"}]})
    metrics.create_metric(ctx, {"name": "spent", "label": "Spent", "entity": "expense", "aggregate": "count"})
    ctx.session.commit()
    ctx.session.close()
    return ann.id, bob.id


def _metric_values(rt, actor_id):
    from plugins.sales.models import Metric
    from plugins.sales.services import metrics
    from plugins.sales.services.periods import Period
    from plugins.sales.services.subjects import Subject

    ctx = rt.context(source="test")
    ctx.actor = ctx.session.get(user_svc.User, actor_id) if actor_id else None
    everything = Period(dt.date(2000, 1, 1), dt.date(2100, 1, 1), "range", "all")
    out = {m.name: metrics.evaluate(ctx, m.id, Subject("company"), everything, "CNY")["value"]
           for m in ctx.session.scalars(select(Metric).where(Metric.entity == "order"))}
    ctx.session.close()
    return out


def _report_values(rt, actor_id):
    from plugins.reports.services import query, store
    from plugins.reports.services.definition import definition_of

    ctx = rt.context(source="test")
    ctx.actor = ctx.session.get(user_svc.User, actor_id) if actor_id else None
    out = {}
    for name, *_ in KINDS:
        report = store.find_report(ctx, name)  # shared with the sales role as the metric was
        rows = query.run(ctx, definition_of(report), report.name).rows
        out[name] = rows[0]["values"][0]
    ctx.session.close()
    return out


def test_metrics_become_reports_with_the_same_numbers_and_back(empty_database_url, tmp_path):
    from plugins.reports.models import Report

    rt = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False,
                        "PLUGINS": ["plugins.sales", "plugins.reports"], "DEFAULT_CURRENCY": "CNY"})
    try:
        migrate.upgrade(rt)
        command.downgrade(migrate.alembic_config(rt), "0001_reports")  # reports before the metrics migration
        sales_only = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path),
                                    "PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales"]})
        try:  # metrics made before the reports plugin was installed
            ann, bob = _seed(sales_only)
        finally:
            sales_only.db.dispose()
        ctx = rt.context(source="test")
        assert list(ctx.session.scalars(select(Report))) == []
        user_svc.seed_roles(ctx)  # the reports plugin's permissions reach the default roles, as at start-up
        ctx.session.close()
        before = {who: _metric_values(rt, who) for who in (None, ann, bob)}
        assert before[None] == {"order_count": 5, "big_order_sum": Decimal("200.55"),
                                "order_average": Decimal("61.25")}  # (100+30+70+45) / 4: USD 10 = CNY 70
        assert before[ann] == {"order_count": 3, "big_order_sum": Decimal("155.55"), "order_average": Decimal("65.00")}

        migrate.upgrade(rt)
        ctx = rt.context(source="test")
        made = {r.name: r for r in ctx.session.scalars(select(Report))}
        assert set(made) == {"order_count", "big_order_sum", "order_average"}  # the expense metric stays a metric
        total = made["big_order_sum"]
        assert (total.entity, total.filters, total.group_by, total.measures) == (
            "order", BIG, [], [{"agg": "sum", "field": "total"}])
        assert made["order_count"].measures == [{"agg": "count", "field": None}]
        assert total.description.startswith("标签 big_order_sum")
        assert [(s.role_id is not None, s.user_id) for s in total.shares] == [(True, None)]
        ctx.session.close()
        for who in (None, ann, bob):  # the same number, for the company and under each rep's record rules
            assert _report_values(rt, who) == before[who]

        command.downgrade(migrate.alembic_config(rt), "0001_reports")
        ctx = rt.context(source="test")
        assert list(ctx.session.scalars(select(Report))) == []
        ctx.session.close()
        assert {who: _metric_values(rt, who) for who in (None, ann, bob)} == before  # the metrics are all there
        migrate.upgrade(rt)
        assert {who: _report_values(rt, who) for who in (None, ann, bob)} == before
    finally:
        rt.db.dispose()


def test_without_the_sales_plugin_the_migration_does_nothing(empty_database_url, tmp_path):
    rt = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False,
                        "PLUGINS": ["plugins.reports"]})
    try:
        migrate.upgrade(rt)
        assert "0002_reports_metrics" in migrate.current_heads(rt)
        command.downgrade(migrate.alembic_config(rt), "0001_reports")
        assert "0001_reports" in migrate.current_heads(rt)
    finally:
        rt.db.dispose()
