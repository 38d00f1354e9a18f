"""The workflow state editor on quotes: a date, a yes/no, another record (the customer, by name) and the plugin's
named action set on entering a state through the admin form, saved with their types and shown again by label."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from crmcore.models import WorkflowDefinition
from crmcore.services import workflow as wf_svc
from crmcore.services.on_enter import stored_value
from crmcore.testing.admin import admin_login, csrf_token
from plugins.sales.models import Quote

NEW = "/admin/workflow_designer/workflow/new"


def test_a_quote_state_sets_a_date_a_yes_no_and_a_customer(app: Any, ctx: Any, make_user: Any, make_customer: Any) -> None:
    boss, _ = make_user("admin", username="boss")
    acme = make_customer("Acme <Trading>", boss)
    client = admin_login(app.test_client(), "boss", lang="en")
    page = client.get(NEW).text
    form = {"csrf_token": csrf_token(page), "name": "Quotes", "entity": "quote", "state_field": "status",
            "priority": "100", "active": "1", "states-0-name": "draft", "states-0-initial": "1",
            "states-1-name": "sent", "transitions-0-action": "send", "transitions-0-from_state": "draft",
            "transitions-0-to_state": "sent",
            "states-1-set-0-field": "valid_until", "states-1-set-0-value": "2027-03-31",
            "states-1-set-1-field": "requires_approval", "states-1-set-1-value": "1",
            "states-1-set-2-field": "customer_id", "states-1-set-2-value": str(acme.id),
            "states-1-set-3-field": "decision_note", "states-1-set-3-value": "sent <b>by</b> the workflow",
            "states-1-act-0": "sales.quote.back_to_draft"}
    r = client.post(NEW, data=form)
    assert r.status_code == 302, r.text
    wf = ctx.session.query(WorkflowDefinition).one()
    state = wf_svc.describe(wf)["states"][1]
    assert state["on_enter"] == {"valid_until": "2027-03-31", "requires_approval": True, "customer_id": acme.id,
                                 "decision_note": "sent <b>by</b> the workflow"}
    assert state["actions"] == [{"name": "sales.quote.back_to_draft"}]
    page = client.get(r.headers["Location"]).text
    assert re.search(r'type="date" name="states-1-set-0-value"[^>]*value="2027-03-31"', page)
    assert re.search(r'type="checkbox" class="set-value" name="states-1-set-1-value" value="1" checked', page)
    assert 'data-record-picker data-entity="customer"' in page  # the record picker stands in with the script
    assert "Acme &lt;Trading&gt;" in page and "Acme <Trading>" not in page  # the customer by name, escaped
    words = re.search(r'class="workflow-effects.*?</dl>', page, re.S).group(0)
    assert "Valid until: 2027-03-31" in words and "Requires approval: yes" in words
    assert "Customer: Acme &lt;Trading&gt;" in words and "Run: Put the quote back to draft" in words
    assert "sent &lt;b&gt;by&lt;/b&gt; the workflow" in page and "<b>by</b>" not in page
    # unticked on the next save: the yes/no becomes no; a price list (no picker for it) is never offered
    form.update({"version": str(wf.version), "states-1-set-1-value": ""})
    assert client.post(r.headers["Location"], data=form).status_code == 302
    ctx.session.expire_all()
    assert wf_svc.describe(ctx.session.get(WorkflowDefinition, wf.id))["states"][1]["on_enter"]["requires_approval"] is False
    assert 'value="price_list_id"' not in page


def test_a_stored_date_is_set_as_a_date() -> None:
    assert stored_value(Quote.__table__.c.valid_until, "2027-03-31") == dt.date(2027, 3, 31)
    assert stored_value(Quote.__table__.c.requires_approval, True) is True


def test_an_action_for_quotes_is_not_offered_nor_taken_for_customers(app: Any, ctx: Any, make_user: Any) -> None:
    make_user("admin", username="boss")
    client = admin_login(app.test_client(), "boss", lang="en")
    page = client.get(NEW).text  # a new workflow drives customers first
    assert re.search(r'<option value="sales.quote.back_to_draft" hidden disabled>', page)
    form = {"csrf_token": csrf_token(page), "name": "C", "entity": "customer", "state_field": "stage",
            "states-0-name": "lead", "states-0-initial": "1", "states-0-act-0": "sales.quote.back_to_draft"}
    r = client.post(NEW, data=form)
    assert r.status_code == 200 and ctx.session.query(WorkflowDefinition).count() == 0
    assert re.search(r'data-field="states.0.actions.0"[^>]*>[^<]*does not act on these records', r.text)


def test_the_editor_in_a_real_browser(browser: Any, live_url: str, ctx: Any, make_user: Any, make_customer: Any) -> None:
    """With the script: the field lists follow the record type, each value input fits its field (a date, a
    checkbox, the record picker), rows and actions are added, and the saved workflow holds them typed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    from crmcore.testing.browser import login, wait_for

    boss, _ = make_user("admin", username="boss")
    acme = make_customer("上海明华贸易有限公司", boss)
    login(browser, live_url, "boss")
    browser.get(live_url + NEW)
    browser.find_element(By.NAME, "name").send_keys("Quotes")
    Select(browser.find_element(By.ID, "entity")).select_by_value("quote")
    Select(browser.find_element(By.ID, "state_field")).select_by_value("status")
    browser.find_element(By.NAME, "states-0-name").send_keys("draft")
    browser.find_element(By.NAME, "states-1-name").send_keys("sent")
    field = Select(browser.find_element(By.NAME, "states-1-set-0-field"))
    assert "Valid until" in [o.text for o in field.options] and "Status" not in [o.text for o in field.options]

    def row(j: int, name: str) -> Any:
        Select(browser.find_element(By.NAME, f"states-1-set-{j}-field")).select_by_value(name)
        return browser.find_element(By.NAME, f"states-1-set-{j}-value")

    date = row(0, "valid_until")
    assert date.get_attribute("type") == "date"
    browser.execute_script("arguments[0].value = '2027-03-31'", date)
    browser.find_element(By.CSS_SELECTOR, "#state-1 .add-set").click()
    check = row(1, "requires_approval")
    assert check.get_attribute("type") == "checkbox"
    check.click()
    browser.find_element(By.CSS_SELECTOR, "#state-1 .add-set").click()
    row(2, "customer_id")
    search = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#state-1-set-2 .cb-search"))[0]
    search.send_keys("明华")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#state-1-set-2 .cb-suggestion"))
    search.send_keys(Keys.ENTER)
    wait_for(lambda: "明华" in browser.find_element(By.CSS_SELECTOR, "#state-1-set-2 .cb-picked").text)
    Select(browser.find_element(By.NAME, "states-1-act-0")).select_by_value("sales.quote.back_to_draft")
    browser.find_element(By.NAME, "transitions-0-action").send_keys("send")
    browser.find_element(By.NAME, "transitions-0-from_state").send_keys("draft")
    browser.find_element(By.NAME, "transitions-0-to_state").send_keys("sent")
    browser.find_element(By.CSS_SELECTOR, ".save-workflow").click()
    wait_for(lambda: "/workflow/new" not in browser.current_url, "the workflow was not saved")
    wf = ctx.session.query(WorkflowDefinition).one()
    state = wf_svc.describe(wf)["states"][1]
    assert state["on_enter"] == {"valid_until": "2027-03-31", "requires_approval": True, "customer_id": acme.id}
    assert state["actions"] == [{"name": "sales.quote.back_to_draft"}]
    assert "上海明华贸易有限公司" in browser.find_element(By.CSS_SELECTOR, ".workflow-effects").text
