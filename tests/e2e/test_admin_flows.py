"""The admin's main flows in a real Chromium, in zh_CN, as their users do them: a rep finds a customer by
pinyin and by a phone typed in another format; a manager merges two customers choosing which values to keep,
then undoes the merge; a rep creates a quote with a discount and submits it, the manager approves it from the
inbox and the quote shows approved.

Browsers from the testing kit (``crmcore.testing.browser``): they fail under ``CI=true`` when Chromium is
missing, and a failed test leaves screenshots and pages in its temporary folder."""
from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from crmcore.models import Customer, Team
from crmcore.services import approvals, customers
from crmcore.testing.browser import login, wait_for
from plugins.sales.models import Quote
from plugins.sales.services import catalog


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(PLUGINS=["plugins.sales"])


def _listed(driver: Any) -> list[str]:
    """The customers' names in the admin's list, as shown."""
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table.model-list td.col-name a")]


def _search(driver: Any, live_url: str, words: str) -> list[str]:
    driver.get(live_url + "/admin/customer/")
    box = driver.find_element(By.NAME, "search")
    box.clear()
    box.send_keys(words + "\n")
    wait_for(lambda: "search=" in driver.current_url, f"searching {words!r} did not reload the list")
    return _listed(driver)


def test_a_rep_finds_customers_by_pinyin_and_by_phone(make_browser: Any, live_url: str, ctx: Any,
                                                      make_user: Any) -> None:
    rep, _ = make_user("sales", username="rita")
    customers.create_customer(ctx, {"name": "张三商贸有限公司", "phone": "021-6234 5678", "owner_id": rep.id})
    customers.create_customer(ctx, {"name": "李四科技有限公司", "phone": "13800138000", "owner_id": rep.id})
    browser = make_browser(lang="zh-CN")
    login(browser, live_url, "rita")
    browser.get(live_url + "/admin/customer/")
    assert sorted(_listed(browser)) == ["张三商贸有限公司", "李四科技有限公司"]
    assert _search(browser, live_url, "zhangsan") == ["张三商贸有限公司"]  # full pinyin
    assert _search(browser, live_url, "zssm") == ["张三商贸有限公司"]  # initials
    assert _search(browser, live_url, "+86 21 62345678") == ["张三商贸有限公司"]  # the phone in another format
    assert _search(browser, live_url, "138-0013-8000") == ["李四科技有限公司"]
    assert _search(browser, live_url, "wangwu") == []
    assert "客户" in browser.find_element(By.TAG_NAME, "body").text  # the page speaks Chinese


def test_a_manager_merges_two_customers_keeping_chosen_values_then_undoes_it(
        make_browser: Any, live_url: str, ctx: Any, rt: Any, make_user: Any) -> None:
    manager, _ = make_user("manager", team="East", username="mia")
    ctx.session.query(Team).filter_by(name="East").one().manager_id = manager.id
    ctx.session.commit()
    keep = customers.create_customer(ctx, {"name": "张三商贸有限公司", "phone": "13800138000",
                                           "email": "old@zhangsan.cn", "owner_id": manager.id})
    twin = customers.create_customer(ctx, {"name": "张三商贸", "phone": "+86 138 0013 8000",
                                           "email": "sales@zhangsan.cn", "industry": "家具零售", "owner_id": manager.id})
    keep_id, twin_id = keep.id, twin.id
    browser = make_browser(lang="zh-CN")
    login(browser, live_url, "mia")
    browser.get(f"{live_url}/admin/customer/details/?id={keep_id}")
    duplicates = browser.find_element(By.ID, "duplicates")
    assert "张三商贸" in duplicates.text
    duplicates.find_element(By.CSS_SELECTOR, "a.crm-merge-link").click()
    choices = browser.find_element(By.ID, "crm-merge-choices")
    assert "old@zhangsan.cn" in choices.text and "sales@zhangsan.cn" in choices.text
    choices.find_element(By.CSS_SELECTOR, "tr[data-field=email] input[value=other]").click()  # keep the twin's email
    choices.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    flashed = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, ".alert-success").text, "no merge message")
    assert "已合并到此客户" in flashed and "张三商贸" in flashed
    rt.db.session.remove()
    kept, merged = rt.db.session.get(Customer, keep_id), rt.db.session.get(Customer, twin_id)
    assert kept.email == "sales@zhangsan.cn" and kept.industry == "家具零售"  # chosen, and an empty field filled
    assert kept.name == "张三商贸有限公司" and merged.merged_into_id == keep_id
    browser.get(live_url + "/admin/customer/")
    assert _listed(browser) == ["张三商贸有限公司"]  # the merged one is hidden

    browser.get(f"{live_url}/admin/customer/details/?id={keep_id}")
    browser.find_element(By.CSS_SELECTOR, "#merges form.crm-unmerge-form button[type=submit]").click()
    flashed = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, ".alert-success").text, "no undo message")
    assert "合并已撤销" in flashed and "张三商贸" in flashed
    assert not browser.find_elements(By.ID, "merges")  # nothing left to undo
    rt.db.session.remove()
    kept, back = rt.db.session.get(Customer, keep_id), rt.db.session.get(Customer, twin_id)
    assert back.merged_into_id is None and back.email == "sales@zhangsan.cn"
    assert kept.email == "old@zhangsan.cn" and kept.industry is None  # the values before the merge
    browser.get(live_url + "/admin/customer/")
    assert sorted(_listed(browser)) == ["张三商贸", "张三商贸有限公司"]


def test_a_rep_submits_a_discounted_quote_and_the_manager_approves_it_from_the_inbox(
        make_browser: Any, live_url: str, ctx: Any, rt: Any, make_user: Any, make_customer: Any) -> None:
    rep, _ = make_user("sales", team="East", username="rita")
    manager, _ = make_user("manager", team="East", username="mia")
    ctx.session.query(Team).filter_by(name="East").one().manager_id = manager.id
    ctx.session.commit()
    approvals.create_policy(ctx, {"name": "折扣审批", "entity": "quote", "action": "submit", "tiers": [
        {"condition": {"field": "effective_discount", "op": "gt", "value": 15},
         "reviewers": [{"kind": "manager_of", "value": "owner_id"}]}]})
    make_customer("星河家居", rep)
    catalog.create_product(ctx, {"code": "SF1", "name": "布艺沙发", "list_price": "1000"})

    rita = make_browser(lang="zh-CN")
    login(rita, live_url, "rita")
    rita.get(live_url + "/admin/sales/quote/new/")
    Select(rita.find_element(By.NAME, "customer_id")).select_by_visible_text("星河家居")
    Select(rita.find_element(By.NAME, "lines-0-product_id")).select_by_visible_text("布艺沙发 (SF1)")
    rita.find_element(By.NAME, "lines-0-quantity").send_keys("2")
    rita.find_element(By.NAME, "lines-0-discount_percent").send_keys("20")
    rita.find_element(By.CSS_SELECTOR, "#crm-quote-form button[type=submit]").click()
    total = wait_for(lambda: rita.find_element(By.ID, "quote-total").text, "the quote was not saved")
    assert "1,600.00" in total  # 2 x 1000 at 20 % off
    rita.find_element(By.ID, "quote-submit").click()
    flashed = wait_for(lambda: rita.find_element(By.CSS_SELECTOR, ".alert-success").text, "no submit message")
    assert "已提交" in flashed and "待审批" in flashed  # the status in words
    assert not rita.find_elements(By.ID, "quote-submit")  # submitted once
    rt.db.session.remove()
    quote = rt.db.session.query(Quote).one()
    quote_id, number = quote.id, quote.number
    assert quote.status == "pending_approval"

    mia = make_browser(lang="zh-CN")
    login(mia, live_url, "mia")
    mia.get(live_url + "/admin/approval_inbox/")
    task = mia.find_element(By.CSS_SELECTOR, "tr.approval-task")
    assert number in task.text and "星河家居" in task.text
    mia.find_element(By.CSS_SELECTOR, "tr.approval-decide button[value=approve]").click()
    wait_for(lambda: mia.find_element(By.CSS_SELECTOR, ".alert-success"), "no decision message")
    assert not mia.find_elements(By.CSS_SELECTOR, "tr.approval-task")  # nothing left to decide
    rt.db.session.remove()
    assert rt.db.session.get(Quote, quote_id).status == "approved"

    rita.get(f"{live_url}/admin/sales/quote/details/?id={quote_id}")
    page = rita.find_element(By.TAG_NAME, "main").text if rita.find_elements(By.TAG_NAME, "main") else \
        rita.find_element(By.TAG_NAME, "body").text
    assert "已审批" in page and "approved" not in page and "pending_approval" not in page
