"""In a real headless Chromium, on a Chinese page: a quote's approval condition names a customer picked by name
(part of the Chinese name typed, the suggestion picked with the keyboard), stored as the customer's id and shown by
name again when the policy is reopened; a second customer added with the mouse for "is one of", each removable.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium``; skipped without them, failed under CI.
"""
from __future__ import annotations

from typing import Any

import pytest

from crmcore.services import approvals
from crmcore.testing.browser import login, wait_for


@pytest.fixture
def browser(make_browser: Any) -> Any:
    return make_browser(lang="zh-CN", width=1400, height=1000)


def test_a_customer_is_picked_by_name_and_stored_by_id(browser: Any, live_url: str, rt: Any, make_user: Any,
                                                       make_customer: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    make_user("admin", username="boss")
    rep, _ = make_user("sales", username="rita")
    minghua = make_customer("上海明华贸易有限公司", rep)
    make_customer("北京东方机械", rep)
    guangming = make_customer("广州光明食品", rep)
    login(browser, live_url, "boss")
    browser.get(live_url + "/admin/workflow_designer/policy/new?entity=quote")
    browser.find_element(By.ID, "name").send_keys("大客户报价")
    browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-add").click()
    Select(browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-leaf .cb-field")).select_by_value("customer_id")
    Select(browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-leaf .cb-op")).select_by_value("eq")
    search = browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-leaf .cb-search")
    assert search.get_attribute("placeholder") == "输入名称的一部分或编号"
    search.send_keys("明华")
    wait_for(lambda: [s.text for s in browser.find_elements(By.CSS_SELECTOR, "#tier-0 .cb-suggestion")]
             == ["上海明华贸易有限公司"], "no suggestion by the Chinese name")
    search.send_keys(Keys.ENTER)  # the first suggestion, from the keyboard; the form is not posted
    chips = browser.find_elements(By.CSS_SELECTOR, "#tier-0 .cb-chip")
    assert [c.text.rstrip("×").strip() for c in chips] == ["上海明华贸易有限公司"]
    Select(browser.find_element(By.ID, "tiers-0-reviewers")).select_by_value("manager_of:owner_id")
    browser.find_element(By.CSS_SELECTOR, ".save-policy").click()
    browser.find_element(By.CSS_SELECTOR, ".alert-success")
    rt.db.session.remove()
    policy = approvals.describe_policy(approvals.list_policies(rt.context())[0])
    assert policy["tiers"][0]["condition"] == {"field": "customer_id", "op": "eq", "value": minghua.id}

    # reopened: the saved id shown by name; "is one of" with a second customer picked with the mouse
    browser.get(live_url + f"/admin/workflow_designer/policy/{policy['id']}")
    wait_for(lambda: [c.text.rstrip("×").strip() for c in browser.find_elements(By.CSS_SELECTOR, "#tier-0 .cb-chip")]
             == ["上海明华贸易有限公司"], "the saved customer is not shown by name")
    assert str(minghua.id) not in browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-picker").text
    Select(browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-leaf .cb-op")).select_by_value("in")
    search = browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-leaf .cb-search")
    search.send_keys("光明")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#tier-0 .cb-suggestion"), "no suggestion")
    browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-suggestion").click()
    search.send_keys("明华")
    wait_for(lambda: [s.text for s in browser.find_elements(By.CSS_SELECTOR, "#tier-0 .cb-suggestion")]
             == ["上海明华贸易有限公司"], "no second suggestion")
    browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-suggestion").click()
    chips = browser.find_elements(By.CSS_SELECTOR, "#tier-0 .cb-chip")
    assert [c.text.rstrip("×").strip() for c in chips] == ["广州光明食品", "上海明华贸易有限公司"]
    chips[1].find_element(By.CSS_SELECTOR, ".cb-chip-remove").click()  # removable, one by one
    browser.find_element(By.CSS_SELECTOR, ".save-policy").click()
    browser.find_element(By.CSS_SELECTOR, ".alert-success")
    rt.db.session.remove()
    policy = approvals.describe_policy(approvals.list_policies(rt.context())[0])
    assert policy["tiers"][0]["condition"] == {"field": "customer_id", "op": "in", "value": [guangming.id]}


def test_the_metric_builder_offers_the_picker_above_its_list(browser: Any, live_url: str, ctx: Any, make_user: Any,
                                                              make_customer: Any, monkeypatch: Any) -> None:
    """More customers than the metric form lists (``MAX_CHOICES``, lowered here): the customer by name from a search."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
    from sqlalchemy import select

    from plugins.sales.admin import metric_builder
    from plugins.sales.models import Metric

    monkeypatch.setattr(metric_builder, "MAX_CHOICES", 1)
    make_user("admin", username="boss")
    rep, _ = make_user("sales", username="rep_a")
    alpha = make_customer("阿尔法公司", rep)
    make_customer("贝塔公司", rep)
    login(browser, live_url, "boss")
    browser.get(live_url + "/admin/sales/metric/new/")
    browser.find_element(By.ID, "name").send_keys("alpha_count")
    browser.find_element(By.ID, "label").send_keys("阿尔法商机")
    Select(browser.find_element(By.ID, "entity")).select_by_value("opportunity")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".metric-conditions .cb-add"), "the builder did not appear")
    browser.find_element(By.CSS_SELECTOR, ".metric-conditions .cb-add").click()
    Select(browser.find_element(By.CSS_SELECTOR, ".metric-conditions .cb-field")).select_by_value("customer_id")
    Select(browser.find_element(By.CSS_SELECTOR, ".metric-conditions .cb-op")).select_by_value("eq")
    assert not browser.find_elements(By.CSS_SELECTOR, ".metric-conditions input[type=number].cb-value")
    search = browser.find_element(By.CSS_SELECTOR, ".metric-conditions .cb-search")
    search.send_keys("阿尔")
    wait_for(lambda: [s.text for s in browser.find_elements(By.CSS_SELECTOR, ".metric-conditions .cb-suggestion")]
             == ["阿尔法公司"], "no suggestion")
    search.send_keys(Keys.ARROW_DOWN, Keys.ENTER)  # the one suggestion, through the keys (down wraps around)
    assert browser.find_element(By.CSS_SELECTOR, ".metric-conditions .cb-chip").text.rstrip("×").strip() == "阿尔法公司"
    Select(browser.find_element(By.ID, "aggregate")).select_by_value("count")
    browser.find_element(By.CSS_SELECTOR, ".admin-form input[type=submit].btn-primary").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".alert-success, .alert-info"), "the metric was not saved")
    ctx.session.expire_all()
    metric = ctx.session.scalar(select(Metric).where(Metric.name == "alpha_count"))
    assert metric is not None and metric.conditions == {"field": "customer_id", "op": "eq", "value": alpha.id}
