"""Demo reports: this year's revenue of the A-level (key) customers by month and province (a stacked bar on the sales reps' home
page, e-mailed weekly), orders by owner, and a pivot of orders by province and status."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from crmcore import entities as meta
from crmcore.runtime import ServiceContext

from .models import Report
from .services import store


def load_demo(ctx: ServiceContext) -> str:
    if ctx.session.scalar(select(Report.id).limit(1)) is not None:
        return "Reports demo data is already there."
    if "order" not in meta.registered(ctx):
        return "Reports demo: no orders to report on (the sales plugin is not loaded)."
    year = dt.date.today().year
    store.create_report(ctx, {
        "name": "本年 A 级客户按月份和省份的营收", "entity": "order", "display": "stacked_bar",
        "description": "A 级（重点）客户今年的订单金额（折算为本位币），按月份和客户所在省份",
        "filters": {"all": [{"field": "customer.level", "op": "eq", "value": "A"},
                            {"field": "order_date", "op": "gte", "value": f"{year}-01-01"}]},
        "group_by": [{"field": "order_date", "bucket": "month"}, {"field": "customer.province"}],
        "measures": [{"agg": "sum", "field": "total"}], "on_home": True,
        "schedule": "weekly", "schedule_weekday": 0, "schedule_time": "08:00", "shares": [{"role": "sales"}]})
    store.create_report(ctx, {
        "name": "各负责人的订单", "entity": "order", "display": "bar", "sort": "measure", "sort_desc": True,
        "group_by": [{"field": "owner_id"}],
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "total"}, {"agg": "avg", "field": "total"}],
        "shares": [{"role": "manager"}]})
    store.create_report(ctx, {
        "name": "各省份订单状态透视", "entity": "order", "display": "pivot",
        "group_by": [{"field": "customer.province"}, {"field": "status"}], "measures": [{"agg": "count"}]})
    return "Reports demo data loaded: 3 reports."
