"""Acceptance in a real headless Chromium: an admin builds approval policies and a workflow without typing JSON
("a quote with an effective discount above 15 % needs the owner's manager; above 30 % also a director", and
a customer-credit-limit workflow), a rep submits, the manager approves from the inbox, the record moves on.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium``; skipped without them, failed under CI.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from crmcore.models import Customer, Team
from crmcore.services import accounts, approvals
from crmcore.services import workflow as wf_svc
from plugins.sales.models import Quote
from plugins.sales.services import catalog, quotes


@pytest.fixture
def browser(make_browser: Any) -> Any:
    """A Chromium from the testing kit (a failed test keeps its screenshot and page in tmp_path)."""
    return make_browser(lang="en-US", width=1400, height=1000)


def login(driver: Any, url: str, username: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(url + "/admin/auth/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys("password123")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    driver.find_element(By.CSS_SELECTOR, ".crm-dashboard, .navbar")


def pick(driver: Any, css: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.CSS_SELECTOR, css)).select_by_value(value)


def add_condition(driver: Any, box: str, field: str, op: str, value: str) -> None:
    """In the builder inside ``box``: add a condition, pick the field, the operator and type the value."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"{box} .cb-add").click()
    pick(driver, f"{box} .cb-leaf:last-child .cb-field", field)
    pick(driver, f"{box} .cb-leaf:last-child .cb-op", op)
    driver.find_element(By.CSS_SELECTOR, f"{box} .cb-leaf:last-child input.cb-value").send_keys(value)


def wait_for_text(driver: Any, css: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: text in d.find_element(By.CSS_SELECTOR, css).text)


def approve_first_in_inbox(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/admin/approval_inbox/")
    driver.find_element(By.CSS_SELECTOR, "tr.approval-decide button[value=approve]").click()
    assert "Approved." in driver.find_element(By.CSS_SELECTOR, ".alert-success").text


def test_policies_and_a_workflow_without_json(browser: Any, live_url: str, rt: Any, ctx: Any, make_user: Any,
                                              make_customer: Any) -> None:
    from selenium.webdriver.common.by import By

    make_user("admin", username="boss")
    rep, _ = make_user("sales", team="East", username="rita")
    manager, _ = make_user("manager", team="East", username="mike")
    accounts.create_role(ctx, {"name": "director", "permissions": ["approval.read", "approval.decide"], "scope": "all"})
    make_user("director", username="dora")
    ctx.session.query(Team).filter_by(name="East").one().manager_id = manager.id
    ctx.session.commit()
    acme = make_customer("Acme", rep)
    printer = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100"})
    line_20 = {"product_id": printer.id, "quantity": "1", "discount_percent": "20"}
    quotes.create_quote(ctx, {"customer_id": acme.id, "owner_id": rep.id, "lines": [line_20]})  # for the live count

    # the admin: the quote policy, two tiers, no JSON typed
    login(browser, live_url, "boss")
    browser.get(live_url + "/admin/workflow_designer/policy/new")
    pick(browser, "#entity", "quote")
    browser.find_element(By.CSS_SELECTOR, ".policy-entity button[type=submit]").click()
    browser.find_element(By.ID, "name").send_keys("Quote discounts")
    add_condition(browser, "#tier-0", "effective_discount", "gt", "15")
    wait_for_text(browser, "#tier-0 .cb-result", "1 matching records")
    pick(browser, "#tiers-0-reviewers", "manager_of:owner_id")
    browser.find_element(By.CSS_SELECTOR, ".add-tier").click()
    add_condition(browser, "#tier-1", "effective_discount", "gt", "30")
    wait_for_text(browser, "#tier-1 .cb-result", "0 matching records")
    pick(browser, "#tiers-1-reviewers", "role:director")
    browser.find_element(By.CSS_SELECTOR, ".save-policy").click()
    assert "saved" in browser.find_element(By.CSS_SELECTOR, ".alert-success").text
    assert "1" in browser.find_element(By.CSS_SELECTOR, ".policy-preview .preview-count").text
    rt.db.session.remove()
    policy = approvals.describe_policy(approvals.list_policies(rt.context())[0])
    assert policy["action"] == "submit" and [t["condition"] for t in policy["tiers"]] == [
        {"field": "effective_discount", "op": "gt", "value": 15}, {"field": "effective_discount", "op": "gt", "value": 30}]
    assert [t["reviewers"] for t in policy["tiers"]] == [[{"kind": "manager_of", "value": "owner_id"}],
                                                         [{"kind": "role", "value": "director"}]]

    # the rep submits a 20 % quote (on a line): the manager approves it from the inbox
    rctx = rt.context(actor=rep)
    quote = quotes.create_quote(rctx, {"customer_id": acme.id, "owner_id": rep.id, "lines": [line_20]})
    assert quotes.submit_quote(rctx, quote.id).status == "pending_approval"
    quote_id = quote.id
    rctx.session.close()
    login(browser, live_url, "mike")
    approve_first_in_inbox(browser, live_url)
    rt.db.session.remove()
    assert rt.db.session.get(Quote, quote_id).status == "approved"

    # the same for customers' credit limits: a policy and a workflow that uses it
    login(browser, live_url, "boss")
    browser.get(live_url + "/admin/workflow_designer/policy/new")
    pick(browser, "#entity", "customer")
    browser.find_element(By.CSS_SELECTOR, ".policy-entity button[type=submit]").click()
    browser.find_element(By.ID, "name").send_keys("Credit limit")
    add_condition(browser, "#tier-0", "credit_limit", "gt", "100000")
    # the builder <-> JSON round trip: the advanced view shows the tree; JSON edited there comes back as rows
    browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-advanced summary").click()
    advanced = browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-advanced textarea")
    assert json.loads(advanced.get_attribute("value")) == {"field": "credit_limit", "op": "gt", "value": 100000}
    either = {"any": [{"field": "credit_limit", "op": "gt", "value": 100000},
                      {"field": "stage", "op": "in", "value": ["lead", "prospect"]}]}
    advanced.clear()
    advanced.send_keys(json.dumps(either))
    browser.find_element(By.CSS_SELECTOR, "#tier-0 .cb-apply").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tier-0 .cb-leaf")) == 2
    assert json.loads(browser.find_element(By.ID, "tiers-0-condition").get_attribute("value")) == either
    pick(browser, "#tiers-0-reviewers", "manager_of:owner_id")
    browser.find_element(By.CSS_SELECTOR, ".save-policy").click()
    assert "saved" in browser.find_element(By.CSS_SELECTOR, ".alert-success").text
    rt.db.session.remove()
    credit = next(p for p in approvals.list_policies(rt.context()) if p.name == "Credit limit")
    assert credit.tiers[0].condition == either

    browser.get(live_url + "/admin/workflow_designer/workflow/new")
    browser.find_element(By.ID, "name").send_keys("Customer credit")
    pick(browser, "#entity", "customer")
    pick(browser, "#state_field", "stage")
    browser.find_element(By.NAME, "states-0-name").send_keys("lead")
    browser.find_element(By.NAME, "states-1-name").send_keys("customer")
    browser.find_element(By.NAME, "transitions-0-action").send_keys("win")
    browser.find_element(By.NAME, "transitions-0-from_state").send_keys("lead")
    browser.find_element(By.NAME, "transitions-0-to_state").send_keys("customer")
    pick(browser, "#transitions-0-policy", "Credit limit")
    browser.find_element(By.CSS_SELECTOR, ".save-workflow").click()
    assert "saved" in browser.find_element(By.CSS_SELECTOR, ".alert-success").text
    assert "win" in browser.find_element(By.CSS_SELECTOR, ".workflow-picture svg").get_attribute("innerHTML")

    big = make_customer("Big Buyer", rep, stage="lead", credit_limit="200000")
    big_id = big.id
    rctx = rt.context(actor=rep)
    assert wf_svc.fire(rctx, "customer", big_id, "win")["status"] == "pending_approval"
    rctx.session.close()
    login(browser, live_url, "mike")
    approve_first_in_inbox(browser, live_url)
    rt.db.session.remove()
    assert rt.db.session.get(Customer, big_id).stage == "customer"
