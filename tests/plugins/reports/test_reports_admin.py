"""The report builder in the admin (Flask test client, CSRF on): build from the form, view as a stacked bar chart
(escaped SVG) or a pivot with totals, drill down, export, the home page panel, and a field error next to its field."""
from __future__ import annotations

import json
from typing import Any

import pytest

from crmcore.testing.admin import admin_login, csrf_token

VIP = {"field": "customer.level", "op": "eq", "value": "VIP"}


@pytest.fixture
def manager(client: Any, make_user: Any) -> Any:
    make_user("manager", username="mia", team="East")  # the team of the reps who own the orders
    return admin_login(client, "mia", lang="zh_CN")


def form(**extra: Any) -> dict[str, Any]:
    return {"name": "VIP 月度省份营收", "entity": "order", "filters": json.dumps(VIP), "group_0": "order_date",
            "bucket_0": "month", "group_1": "customer.province", "bucket_1": "", "agg_0": "sum", "measure_0": "total",
            "display": "stacked_bar", "sort": "group", "row_limit": "500", "schedule": "weekly", "schedule_weekday": "0",
            "schedule_day": "1", "schedule_time": "08:00", **extra}


def post(client: Any, url: str, data: dict[str, Any]) -> Any:
    token = csrf_token(client.get(url).text)
    return client.post(url, data={"csrf_token": token, **data})


def test_build_view_drill_and_export_in_chinese(manager: Any, shop: Any, ctx: Any) -> None:
    from crmcore.models import Role
    from sqlalchemy import select

    sales = ctx.session.scalar(select(Role).where(Role.name == "sales"))
    page = manager.get("/admin/reports/new?entity=order").text
    assert "<option value=\"customer.province\">" in page  # a field one hop away is offered
    r = post(manager, "/admin/reports/new?entity=order", form(share_roles=[str(sales.id)], on_home="on"))
    assert r.status_code == 302, r.text
    view = manager.get(r.headers["Location"]).text
    assert "<svg" in view and "浙江省" in view and "月" in view
    from plugins.reports.models import Report

    report = ctx.session.scalar(select(Report))
    assert (report.schedule, report.display, [s.role_id for s in report.shares]) == ("weekly", "stacked_bar", [sales.id])
    csv = manager.get(f"/admin/reports/{report.id}/export.csv")
    assert csv.status_code == 200 and "浙江省" in csv.get_data(as_text=True)


def test_pivot_totals_and_drill_down(manager: Any, shop: Any) -> None:
    r = post(manager, "/admin/reports/new?entity=order", form(filters="", display="pivot", name="透视"))
    view = manager.get(r.headers["Location"]).text
    assert "report-pivot" in view and "250.00" in view  # 130 + 70 + 50: the grand total
    table = post(manager, "/admin/reports/new?entity=order", form(filters="", display="table", name="明细", group_1="",
                                                                 group_0="customer_id", bucket_0=""))
    page = manager.get(table.headers["Location"]).text
    assert "杭州茶庄" in page
    start = page.index('class="drill" href="') + len('class="drill" href="')
    link = page[start:page.index('"', start)].replace("&amp;", "&")
    records = manager.get(link).text
    assert "SO-" in records


def test_a_field_error_is_shown_next_to_its_field(manager: Any, shop: Any) -> None:
    r = post(manager, "/admin/reports/new?entity=order", form(bucket_0=""))
    assert r.status_code == 200
    assert 'data-field="group_by.0.bucket"' in r.text and "按日、周、月、季度或年" in r.text


def test_svg_escapes_every_text(ctx: Any) -> None:
    from plugins.reports.services.query import Column, Result
    from plugins.reports.services.render import svg

    result = Result("<b>x</b>", "order", [Column("g0", "g", "group", "str"), Column("m0", "m", "measure", "int")],
                    [{"keys": ["<script>"], "cells": ["<script>alert(1)</script>"], "values": [3]}], display="bar")
    drawn = str(svg(result))
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn and "&lt;b&gt;" in drawn
    pie = str(svg(result, "pie"))
    assert "<circle" in pie and "<script>" not in pie


def test_home_panel_shows_the_report_to_whom_it_is_shared(client: Any, make_user: Any, shop: Any, ctx: Any) -> None:
    from plugins.reports.services import store

    store.create_report(ctx, {"name": "营收", "entity": "order", "measures": [{"agg": "sum", "field": "total"}],
                              "group_by": [{"field": "customer.province"}], "on_home": True,
                              "shares": [{"role": "sales"}]})
    make_user("sales", username="sam")
    admin_login(client, "sam", lang="zh_CN")
    home = client.get("/admin/").text
    assert "营收" in home


def test_an_unknown_or_unshared_report_goes_back_to_the_list(manager: Any, shop: Any) -> None:
    r = manager.get("/admin/reports/999")
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/reports/")


def test_a_slow_report_says_so_on_its_page(manager: Any, shop: Any, ctx: Any, rt: Any) -> None:
    from plugins.reports.services import store

    import datetime as dt
    from decimal import Decimal

    from sqlalchemy import insert

    from plugins.sales.models import Order

    ctx.session.execute(insert(Order), [{"number": f"B-{i}", "customer_id": shop["杭州茶庄"].id, "source": "crm",
                                         "order_date": dt.date(2026, 3, 1), "currency": "CNY", "total": Decimal(1),
                                         "status": "confirmed", "version": 1, "owner_id": shop["ann"].id}
                                        for i in range(3000)])
    ctx.session.commit()
    report = store.create_report(ctx, {"name": "慢", "entity": "order", "measures": [{"agg": "count"}],
                                       "group_by": [{"field": "customer.province"}]})
    rt.settings["REPORTS_TIMEOUT_SECONDS"] = 1e-9
    page = manager.get(f"/admin/reports/{report.id}")
    assert page.status_code == 200 and "report-problem" in page.text and "秒" in page.text
