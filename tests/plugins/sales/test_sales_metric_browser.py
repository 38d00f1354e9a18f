"""In a real Chromium, in zh_CN: an admin defines a custom metric without typing JSON, the customer picked by name in
the condition builder, the number field picked from a list; the page shows no JSON (a screenshot is kept)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from crmcore.testing.browser import login, wait_for
from plugins.sales.models import Metric


def pick(driver: Any, css: str, value: str) -> None:
    Select(driver.find_element(By.CSS_SELECTOR, css)).select_by_value(value)


def test_a_metric_is_defined_in_the_builder(make_browser: Any, live_url: str, ctx: Any, make_user: Any,
                                            make_customer: Any, tmp_path: Path) -> None:
    make_user("admin", username="boss")
    rep, _ = make_user("sales", username="rep_a")
    alpha = make_customer("阿尔法公司", rep)
    make_customer("贝塔公司", rep)
    browser = make_browser(lang="zh-CN", width=1400, height=1000)
    login(browser, live_url, "boss")
    browser.get(live_url + "/admin/sales/metric/new/")
    browser.find_element(By.ID, "name").send_keys("alpha_big")
    browser.find_element(By.ID, "label").send_keys("阿尔法大单")
    pick(browser, "#entity", "opportunity")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".metric-conditions .cb-add"), "the builder did not appear")
    browser.find_element(By.CSS_SELECTOR, ".metric-conditions .cb-add").click()
    pick(browser, ".metric-conditions .cb-leaf:last-child .cb-field", "customer_id")
    pick(browser, ".metric-conditions .cb-leaf:last-child .cb-op", "eq")
    Select(browser.find_element(By.CSS_SELECTOR, ".metric-conditions .cb-leaf:last-child select.cb-value")
           ).select_by_visible_text("阿尔法公司")  # the customer by name
    browser.find_element(By.CSS_SELECTOR, ".metric-conditions .cb-add").click()
    pick(browser, ".metric-conditions .cb-leaf:last-child .cb-field", "amount")
    pick(browser, ".metric-conditions .cb-leaf:last-child .cb-op", "gte")
    browser.find_element(By.CSS_SELECTOR, ".metric-conditions .cb-leaf:last-child input.cb-value").send_keys("100")
    pick(browser, "#aggregate", "sum")
    pick(browser, "#field", "amount")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "JSON" not in body and not browser.find_elements(By.CSS_SELECTOR, ".cb-advanced, textarea.text-monospace")
    assert "以下条件全部满足（并且）" in body and "金额" in body, body  # the builder's words in Chinese
    assert browser.save_screenshot(str(tmp_path / "metric-form.png")) and (tmp_path / "metric-form.png").stat().st_size
    browser.find_element(By.CSS_SELECTOR, ".admin-form input[type=submit].btn-primary").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".alert-success, .alert-info"), "the metric was not saved")
    ctx.session.expire_all()
    metric = ctx.session.scalar(select(Metric).where(Metric.name == "alpha_big"))
    assert metric is not None
    assert (metric.conditions, metric.aggregate, metric.field) == (
        {"all": [{"field": "customer_id", "op": "eq", "value": alpha.id}, {"field": "amount", "op": "gte", "value": 100}]},
        "sum", "amount")
