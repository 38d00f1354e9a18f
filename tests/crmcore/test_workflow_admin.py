"""The workflow designer and approvals pages of the admin: login and permissions, CSRF, validated
JSON definitions, the server-drawn picture, the live condition check, the monitor."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from crmcore.models import WorkflowDefinition
from crmcore.services import approvals
from crmcore.services import customers as customer_svc
from crmcore.services import users as user_svc
from crmcore.testing import admin_login

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
PASSWORD = "password123"
DEFINITION = {"name": "lifecycle", "entity": "customer", "state_field": "stage",
              "states": [{"name": "lead"}, {"name": "prospect"}],
              "transitions": [{"action": "qualify", "from_state": "lead", "to_state": "prospect"}]}




def login(client: Any, username: str) -> None:
    admin_login(client, username, PASSWORD)


def token(client: Any, url: str) -> str:
    return CSRF.search(client.get(url).text).group(1)


@pytest.fixture
def admin(client, ctx):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    user_svc.create_user(ctx, "root", PASSWORD, "admin")
    login(client, "root")
    return client


def test_pages_need_login_and_permission(client, ctx):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert client.get("/admin/workflow_designer/").status_code == 302
    user_svc.create_user(ctx, "viewer", PASSWORD, "analyst")
    login(client, "viewer")
    assert client.get("/admin/workflow_designer/").status_code == 200  # workflow.read
    assert client.get("/admin/approval_inbox/").status_code == 403  # analysts do not approve
    csrf = token(client, "/admin/workflow_designer/workflow/new")
    r = client.post("/admin/workflow_designer/workflow/new", data={"csrf_token": csrf, "definition": json.dumps(DEFINITION)})
    assert r.status_code == 403 and ctx.session.query(WorkflowDefinition).count() == 0


def test_designer_validates_saves_and_draws(admin, ctx):
    page = admin.get("/admin/workflow_designer/workflow/new")
    csrf = CSRF.search(page.text).group(1)
    assert admin.post("/admin/workflow_designer/workflow/new", data={"definition": json.dumps(DEFINITION)}).status_code == 400
    bad = admin.post("/admin/workflow_designer/workflow/new", data={"csrf_token": csrf, "definition": json.dumps(
        {**DEFINITION, "transitions": [{"action": "qualify", "from_state": "lead", "to_state": "mars",
                                        "guard": {"field": "stage", "op": "like"}}]})})
    assert bad.status_code == 200
    assert "transitions.0.to_state" in bad.text and "unknown operator" in bad.text
    assert admin.post("/admin/workflow_designer/workflow/new", data={"csrf_token": csrf, "definition": "{not json"}
                      ).status_code == 200
    ok = admin.post("/admin/workflow_designer/workflow/new", data={"csrf_token": csrf, "definition": json.dumps(DEFINITION)})
    assert ok.status_code == 302
    wf = ctx.session.query(WorkflowDefinition).one()
    page = admin.get(f"/admin/workflow_designer/workflow/{wf.id}").text
    assert "<svg" in page and 'class="state"' in page and ">qualify<" in page
    assert "workflow-transitions" in page and "anyone who may write" in page
    assert "lead → prospect" in admin.get("/admin/workflow_designer/").text


def test_live_condition_check_against_a_record(admin, ctx):
    owner = user_svc.create_user(ctx, "mei", PASSWORD, "sales", full_name="Mei Lin")
    acme = customer_svc.create_customer(ctx, {"name": "Acme", "stage": "prospect", "owner_id": owner.id})
    csrf = token(admin, "/admin/workflow_designer/check")
    r = admin.post("/admin/workflow_designer/check", data={
        "csrf_token": csrf, "entity": "customer", "record_id": acme.id,
        "condition": json.dumps({"all": [{"field": "stage", "value": "prospect"}, {"field": "name", "op": "startswith",
                                                                                  "value": "Z"},
                                         {"field": "owner_id", "op": "in", "value": [owner.id]}]})})
    assert "It does not hold for this record." in r.text
    rows = [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr><td>.*?</tr>", r.text)]
    # each test in words (field labels, operators, choices and people by name), never the condition's codes
    assert rows == [["Stage is Prospect", "Prospect", "✓"], ["Name starts with Z", "Acme", "✗"],
                    ["Owner is one of Mei Lin", "Mei Lin", "✓"]]
    r = admin.post("/admin/workflow_designer/check", data={"csrf_token": csrf, "entity": "customer",
                                                            "condition": json.dumps({"field": "stage", "op": "??"})})
    assert "condition-problems" in r.text and "unknown operator" in r.text


def test_structured_designer_forms(admin, ctx):
    from crmcore.models import ApprovalPolicy

    csrf = token(admin, "/admin/workflow_designer/workflow/new")
    admin.post("/admin/workflow_designer/workflow/new", data={"csrf_token": csrf, "definition": json.dumps(DEFINITION)})
    wf = ctx.session.query(WorkflowDefinition).one()
    url = f"/admin/workflow_designer/workflow/{wf.id}"
    page = admin.get(url).text
    assert "add-state" in page and "add-transition" in page
    r = admin.post(f"{url}/states", data={"csrf_token": csrf, "version": wf.version, "name": "customer",
                                          "states-0-set-0-field": "level", "states-0-set-0-value": "A", "final": "1"})
    assert r.status_code == 302
    ctx.session.expire_all()
    wf = ctx.session.get(WorkflowDefinition, wf.id)
    assert [s.name for s in wf.states] == ["lead", "prospect", "customer"] and wf.states[2].on_enter == {"level": "A"}
    approvals.create_policy(ctx, {"name": "big", "entity": "customer", "tiers": [
        {"reviewers": [{"kind": "role", "value": "manager"}]}]})
    admin.post(f"{url}/transitions", data={"csrf_token": csrf, "version": wf.version, "action": "win",
                                           "from_state": "prospect", "to_state": "customer", "roles": ["manager", "admin"],
                                           "guard": '{"field": "email", "op": "is_null", "value": false}', "policy": "big"})
    ctx.session.expire_all()
    wf = ctx.session.get(WorkflowDefinition, wf.id)
    win = wf.transitions[-1]
    assert (win.action, win.roles, win.policy.name, win.guard["field"]) == ("win", ["manager", "admin"], "big", "email")
    # an invalid guard is refused with its problem shown, nothing saved
    r = admin.post(f"{url}/transitions", data={"csrf_token": csrf, "version": wf.version, "action": "lose",
                                               "from_state": "prospect", "to_state": "lead", "guard": '{"field": "x", "op": "??"}'},
                   follow_redirects=True)
    assert "unknown operator" in r.text
    # a stale version is refused
    r = admin.post(f"{url}/transitions/0/delete", data={"csrf_token": csrf, "version": wf.version - 1}, follow_redirects=True)
    assert "changed by someone else" in r.text
    admin.post(f"{url}/transitions/0/delete", data={"csrf_token": csrf, "version": wf.version})
    ctx.session.expire_all()
    assert [t.action for t in ctx.session.get(WorkflowDefinition, wf.id).transitions] == ["win"]

    policy = ctx.session.query(ApprovalPolicy).one()
    purl = f"/admin/workflow_designer/policy/{policy.id}"
    admin.post(f"{purl}/tiers", data={"csrf_token": csrf, "step": "2", "reviewer_kind": "manager_of",
                                      "reviewer_value": "owner_id", "quorum": "1", "mode": "sequential",
                                      "condition": '{"field": "credit_limit", "op": "gt", "value": 100000}',
                                      "timeout_after": "3600", "escalate_kind": "reject"})
    ctx.session.expire_all()
    tiers = ctx.session.get(ApprovalPolicy, policy.id).tiers
    assert [(t.step, t.mode, t.escalate_to) for t in tiers] == [(1, "parallel", None), (2, "sequential", {"kind": "reject", "value": None})]
    assert tiers[1].comment_required_on_reject is False  # the box was not ticked
    admin.post(f"{purl}/tiers/1/delete", data={"csrf_token": csrf})
    ctx.session.expire_all()
    assert [t.step for t in ctx.session.get(ApprovalPolicy, policy.id).tiers] == [2]


def test_the_condition_check_page_has_no_json_to_type(admin, ctx):
    page = admin.get("/admin/workflow_designer/check").text
    assert "<textarea" not in page  # the condition builder writes the hidden input the check reads
    assert 'class="condition-builder" data-entity-from="#entity" data-target="condition" data-advanced="off"' in page
    assert re.search(r'<input type="hidden" id="condition" name="condition" value="[^"]*stage', page)
    assert "condition-builder.js" in page


def test_the_condition_check_page_in_chromium_in_chinese(make_browser, live_url, ctx, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from crmcore.testing.browser import login, wait_for

    from selenium.webdriver.common.keys import Keys

    user_svc.create_user(ctx, "root", PASSWORD, "admin")
    customer_svc.create_customer(ctx, {"name": "杭州明华茶业有限公司"})
    picked = customer_svc.create_customer(ctx, {"name": "宁波明华物流有限公司", "stage": "customer"})
    browser = make_browser(lang="zh-CN")
    login(browser, live_url, "root", PASSWORD)
    browser.get(live_url + "/admin/workflow_designer/check")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".condition-builder .cb-leaf .cb-field"),
             "the builder did not appear")
    assert not browser.find_elements(By.CSS_SELECTOR, "textarea, .cb-advanced")
    assert "JSON" not in browser.find_element(By.TAG_NAME, "body").text
    Select(browser.find_element(By.CSS_SELECTOR, ".cb-leaf .cb-op")).select_by_value("ne")
    # the record to check is picked by name: no number to type
    assert browser.find_element(By.ID, "record_id").get_attribute("type") == "hidden"
    browser.find_element(By.CSS_SELECTOR, "[data-record-picker] .cb-search").send_keys("宁波明华")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "[data-record-picker] .cb-suggestion"), "no suggestion")
    assert [s.text for s in browser.find_elements(By.CSS_SELECTOR, "[data-record-picker] .cb-suggestion")] == \
        ["宁波明华物流有限公司"]
    browser.find_element(By.CSS_SELECTOR, "[data-record-picker] .cb-search").send_keys(Keys.ENTER)
    assert browser.find_element(By.CSS_SELECTOR, "[data-record-picker] .cb-chip").text.startswith("宁波明华物流有限公司")
    assert browser.find_element(By.ID, "record_id").get_attribute("value") == str(picked.id)
    browser.save_screenshot(str(tmp_path / "condition-check.png"))
    browser.find_element(By.CSS_SELECTOR, "form .form-inline button.btn-primary[type=submit]").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".alert-success"), "the condition was not checked")
    assert json.loads(browser.find_element(By.ID, "condition").get_attribute("value"))["op"] == "ne"
    assert browser.find_elements(By.CSS_SELECTOR, ".condition-result")  # checked against the record picked
    test, value, _ok = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table td")]
    assert test.startswith("阶段") and "stage" not in test and "ne" not in test.split() and value == "客户"
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "[data-record-picker] .cb-chip"), "the record is not shown")
    assert browser.find_element(By.CSS_SELECTOR, "[data-record-picker] .cb-chip").text.startswith("宁波明华物流有限公司")
