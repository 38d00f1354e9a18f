"""In a real Chromium, in zh_CN: a manager writes a tag rule without typing JSON, the RFM segment picked by its
Chinese name in the condition builder, a number typed; the page shows no JSON."""
from __future__ import annotations

from typing import Any

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from crmcore.testing.browser import login, wait_for
from plugins.analysis.models import TagRule
from plugins.analysis.services.segments import ensure_segments


def pick(driver: Any, css: str, value: str) -> None:
    Select(driver.find_element(By.CSS_SELECTOR, css)).select_by_value(value)


def new_rule_page(make_user: Any, make_browser: Any, live_url: str, username: str, name: str, tag: str) -> Any:
    """A manager's browser in zh_CN on a new tag rule with its name and tag typed, once the builder is drawn."""
    make_user("manager", username=username)
    browser = make_browser(lang="zh-CN", width=1400, height=1000)
    login(browser, live_url, username)
    browser.get(live_url + "/admin/analysis/tag-rule/new/")
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "tag").send_keys(tag)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".tag-rule-conditions .cb-add"), "the builder did not appear")
    return browser


def test_a_tag_rule_is_written_in_the_builder(make_browser: Any, live_url: str, ctx: Any, make_user: Any) -> None:
    ensure_segments(ctx)
    ctx.session.commit()
    browser = new_rule_page(make_user, make_browser, live_url, "mia", "忠诚高价值", "高价值")
    browser.find_element(By.CSS_SELECTOR, ".tag-rule-conditions .cb-add").click()
    pick(browser, ".tag-rule-conditions .cb-leaf:last-child .cb-field", "segment")
    pick(browser, ".tag-rule-conditions .cb-leaf:last-child .cb-op", "eq")
    Select(browser.find_element(By.CSS_SELECTOR, ".tag-rule-conditions .cb-leaf:last-child select.cb-value")
           ).select_by_visible_text("冠军客户")  # the segment by its name
    browser.find_element(By.CSS_SELECTOR, ".tag-rule-conditions .cb-add").click()
    pick(browser, ".tag-rule-conditions .cb-leaf:last-child .cb-field", "clv")
    pick(browser, ".tag-rule-conditions .cb-leaf:last-child .cb-op", "gte")
    browser.find_element(By.CSS_SELECTOR, ".tag-rule-conditions .cb-leaf:last-child input.cb-value").send_keys("1000")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "JSON" not in body and not browser.find_elements(By.CSS_SELECTOR, ".cb-advanced, textarea")
    options = Select(browser.find_element(By.CSS_SELECTOR, ".tag-rule-conditions .cb-leaf .cb-field")).options
    words = {o.get_attribute("value"): o.text for o in options}
    assert words["recency_days"] == "距上次购买天数" and all(v != k for k, v in words.items()), words
    assert "以下条件全部满足（并且）" in body, body  # the builder's words in Chinese
    browser.find_element(By.CSS_SELECTOR, ".admin-form input[type=submit].btn-primary").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".alert-success, .alert-info"), "the rule was not saved")
    ctx.session.expire_all()
    rule = ctx.session.scalar(select(TagRule).where(TagRule.name == "忠诚高价值"))
    assert rule is not None and rule.tag == "高价值"
    assert rule.conditions == {"all": [{"field": "segment", "op": "eq", "value": "champions"},
                                       {"field": "clv", "op": "gte", "value": 1000}]}


def test_a_posted_condition_that_is_not_json_still_draws_the_builder(make_browser: Any, live_url: str, ctx: Any,
                                                                      make_user: Any) -> None:
    """The builder never posts anything but JSON; a hand-made post that is not JSON is refused on the field, and the
    page it comes back on still draws the builder (it failed to parse the value and drew nothing)."""
    browser = new_rule_page(make_user, make_browser, live_url, "mio", "坏条件", "坏")
    target = browser.find_element(By.CSS_SELECTOR, ".tag-rule-conditions").get_attribute("data-target")
    browser.execute_script("document.getElementById(arguments[0]).value = 'not json {';", target)
    before = browser.find_element(By.TAG_NAME, "html")
    browser.execute_script("document.querySelector('.admin-form').submit();")
    wait_for(lambda: _gone(before), "the form was not posted")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".tag-rule-conditions .cb-add"),
             "the builder was not drawn again")
    assert browser.find_element(By.ID, "name").get_attribute("value") == "坏条件"  # nothing typed is lost
    assert ctx.session.scalar(select(TagRule).where(TagRule.name == "坏条件")) is None


def _gone(element: Any) -> bool:
    try:
        return not element.tag_name  # a tag name while the old page is there
    except StaleElementReferenceException:
        return True
