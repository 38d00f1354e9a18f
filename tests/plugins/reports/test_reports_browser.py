"""In a real Chromium, in zh_CN: a manager builds "revenue by month and province for VIP customers this year, as a
stacked bar", shares it with the sales role and schedules it weekly, all in the browser; a rep then finds it on
their home page. Browsers from the testing kit (``crmcore.testing.browser``)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from crmcore.testing.browser import login, wait_for


def pick(driver: Any, css: str, value: str) -> None:
    Select(driver.find_element(By.CSS_SELECTOR, css)).select_by_value(value)


def test_a_manager_builds_shares_and_schedules_a_stacked_bar(make_browser: Any, live_url: str, ctx: Any, shop: Any,
                                                              make_user: Any) -> None:
    from crmcore.models import Role
    from plugins.reports.models import Report
    from plugins.sales.models import Order

    year = dt.date.today().year
    for n, (name, total) in enumerate((("杭州茶庄", "300.00"), ("广州酒家", "120.00"), ("宁波船厂", "999.00"))):
        customer = shop[name]
        ctx.session.add(Order(number=f"Y-{n}", customer_id=customer.id, owner_id=customer.owner_id,
                              order_date=dt.date(year, 1, 15), currency="CNY", total=Decimal(total), status="confirmed"))
    ctx.session.add(Order(number="OLD", customer_id=shop["杭州茶庄"].id, owner_id=shop["ann"].id,
                          order_date=dt.date(year - 1, 12, 31), currency="CNY", total=Decimal(5000), status="confirmed"))
    ctx.session.commit()
    make_user("manager", username="mia", team="East")
    sales = ctx.session.scalar(select(Role).where(Role.name == "sales"))

    browser = make_browser(lang="zh-CN")
    login(browser, live_url, "mia")
    browser.get(live_url + "/admin/reports/")
    browser.find_element(By.CSS_SELECTOR, ".new-report").click()
    pick(browser, "#pick-entity", "order")  # the page reloads with the order's fields
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".report-form .cb-add"), "the builder did not appear")
    browser.find_element(By.ID, "name").send_keys("今年 VIP 客户按月份和省份的营收")
    browser.find_element(By.CSS_SELECTOR, ".report-form .cb-add").click()
    pick(browser, ".report-form .cb-leaf:last-child .cb-field", "customer.level")
    pick(browser, ".report-form .cb-leaf:last-child .cb-op", "eq")
    browser.find_element(By.CSS_SELECTOR, ".report-form .cb-leaf:last-child input.cb-value").send_keys("VIP")
    browser.find_element(By.CSS_SELECTOR, ".report-form .cb-add").click()
    pick(browser, ".report-form .cb-leaf:last-child .cb-field", "order_date")
    pick(browser, ".report-form .cb-leaf:last-child .cb-op", "gte")
    day = browser.find_element(By.CSS_SELECTOR, ".report-form .cb-leaf:last-child input.cb-value")
    browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));",
                           day, f"{year}-01-01")  # what the date picker leaves in the field
    pick(browser, "#group_0", "order_date")
    pick(browser, "#bucket_0", "month")
    pick(browser, "#group_1", "customer.province")
    pick(browser, "#agg_0", "sum")
    pick(browser, "#measure_0", "total")
    pick(browser, "#display", "stacked_bar")
    pick(browser, "#share_roles", str(sales.id))
    browser.find_element(By.ID, "on_home").click()
    pick(browser, "#schedule", "weekly")
    pick(browser, "#schedule_weekday", "0")
    browser.find_element(By.CSS_SELECTOR, ".save-report").click()

    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".report-chart-box svg"), "the chart was not drawn")
    assert "已保存" in browser.find_element(By.CSS_SELECTOR, ".alert-success").text
    chart = browser.find_element(By.CSS_SELECTOR, ".report-chart-box svg")
    assert len(chart.find_elements(By.TAG_NAME, "rect")) >= 2  # two provinces stacked in one month
    legend = chart.text
    assert "浙江省" in legend and "广东省" in legend
    report = ctx.session.scalar(select(Report).where(Report.name == "今年 VIP 客户按月份和省份的营收"))
    assert (report.display, report.schedule, report.schedule_weekday, report.on_home) == ("stacked_bar", "weekly", 0, True)
    assert [s.role_id for s in report.shares] == [sales.id]
    assert report.filters == {"all": [{"field": "customer.level", "op": "eq", "value": "VIP"},
                                      {"field": "order_date", "op": "gte", "value": f"{year}-01-01"}]}

    # a rep of the sales role finds it on their home page, with only their own customers' revenue
    from crmcore.services import users as user_svc

    user_svc.set_password(ctx, ctx.session.merge(shop["bob"]), "password123")
    ctx.session.commit()
    rep = make_browser(lang="zh-CN")
    login(rep, live_url, "bob")
    rep.get(live_url + "/admin/")
    home = rep.find_element(By.TAG_NAME, "body").text
    assert "今年 VIP 客户按月份和省份的营收" in home and "广东省" in home and "浙江省" not in home
