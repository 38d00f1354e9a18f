"""A workflow state's "on entering, set" rows and actions in the admin, without JSON: a round trip (values shown by
label, saved with their types), forged input refused in words with nothing typed lost, CSRF, escaping, the service's
checks of on_enter values, and the JSON view that no longer carries them."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from crmcore import hookimpl
from crmcore.contracts_workflow import WorkflowAction
from crmcore.errors import ValidationError
from crmcore.models import WorkflowDefinition
from crmcore.services import customers as customer_svc
from crmcore.services import users as user_svc
from crmcore.services import workflow as wf_svc
from crmcore.services.on_enter import MAX_ON_ENTER
from crmcore.testing import admin_login

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
PASSWORD = "password123"
NEW = "/admin/workflow_designer/workflow/new"
welcomed: list[Any] = []


class Actions:
    @hookimpl
    def crm_register_workflow_actions(self):
        return [WorkflowAction("test.welcome", lambda ctx, record, params: welcomed.append((record.name, params)),
                               "Send the <b>welcome</b> pack"),
                WorkflowAction("test.notify", lambda ctx, record, params: None, "Tell the owner")]


@pytest.fixture
def app(make_app):
    welcomed.clear()
    return make_app(plugins=[("wfeditor", Actions())])


@pytest.fixture
def admin(client, ctx):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    user_svc.create_user(ctx, "root", PASSWORD, "admin")
    admin_login(client, "root", PASSWORD)
    return client


def base_form(client: Any, url: str = NEW, **fields: Any) -> dict[str, Any]:
    page = client.get(url).text
    return {"csrf_token": CSRF.search(page).group(1), "name": "Onboarding", "entity": "customer", "state_field": "stage",
            "priority": "100", "active": "1", "states-0-name": "lead", "states-0-initial": "1",
            "states-1-name": "customer", "states-1-label": "Customer",
            "transitions-0-action": "win", "transitions-0-from_state": "lead", "transitions-0-to_state": "customer",
            **fields}


def rows(owner_id: int) -> dict[str, Any]:
    return {"states-1-set-0-field": "kind", "states-1-set-0-value": "person",
            "states-1-set-1-field": "credit_limit", "states-1-set-1-value": "2500.50",
            "states-1-set-2-field": "owner_id", "states-1-set-2-value": str(owner_id),
            "states-1-set-3-field": "level", "states-1-set-3-value": "A",
            "states-1-set-4-field": "", "states-1-set-4-value": "",  # the empty row
            "states-1-act-0": "test.welcome", "states-1-act-1": ""}


def saved(ctx: Any) -> dict[str, Any]:
    ctx.session.expire_all()
    return wf_svc.describe(ctx.session.query(WorkflowDefinition).one())


def selected(page: str, name: str) -> str:
    """The label of the selected option of the select ``name`` (or the value of the input ``name``)."""
    select = re.search(rf'<select[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', page, re.S)
    if select is None:
        return re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', page, re.S).group(1)
    return re.search(r'<option value="[^"]*" selected>([^<]*)</option>', select.group(1)).group(1)


def test_round_trip_types_and_labels(admin, ctx):
    boss = user_svc.create_user(ctx, "boss", None, "manager", full_name="Boss Wang")
    r = admin.post(NEW, data=base_form(admin, **rows(boss.id)))
    assert r.status_code == 302, r.text
    state = saved(ctx)["states"][1]
    assert state["on_enter"] == {"kind": "person", "credit_limit": "2500.50", "owner_id": boss.id, "level": "A"}
    assert state["actions"] == [{"name": "test.welcome"}]
    page = admin.get(r.headers["Location"]).text
    # re-opened: each row shows its field and value by label, plus an empty row; no JSON of these fields anywhere
    assert selected(page, "states-1-set-0-field") == "Kind" and selected(page, "states-1-set-0-value") == "Person"
    assert selected(page, "states-1-set-2-field") == "Owner" and selected(page, "states-1-set-2-value") == "Boss Wang"
    assert selected(page, "states-1-set-1-value") == "2500.50" and selected(page, "states-1-set-3-value") == "A"
    assert selected(page, "states-1-act-0") == "Send the &lt;b&gt;welcome&lt;/b&gt; pack"
    assert 'name="states-1-set-4-field"' in page and 'name="states-1-act-1"' in page
    assert "on_enter" not in page and '"actions"' not in page.replace("&#34;", '"')
    # the page says it in words beside the picture
    words = re.search(r'class="workflow-effects.*?</dl>', page, re.S).group(0)
    assert "Kind: Person" in words and "Owner: Boss Wang" in words and "Run: Send the &lt;b&gt;welcome" in words
    assert "<b>welcome" not in page  # the action's label is escaped everywhere
    listing = admin.get("/admin/workflow_designer/").text
    assert "On entering Customer: Kind: Person · Credit limit: 2500.50 · Owner: Boss Wang · Level: A · Run: Send the" in listing
    # edited: a row removed, the owner changed, an action added; the rest kept
    wf = ctx.session.query(WorkflowDefinition).one()
    url = f"/admin/workflow_designer/workflow/{wf.id}"
    form = base_form(admin, url, version=str(wf.version), **rows(boss.id))
    form.update({"states-1-set-3-removed": "1", "states-1-act-1": "test.notify", "states-1-set-1-value": "99"})
    assert admin.post(url, data=form).status_code == 302
    state = saved(ctx)["states"][1]
    assert state["on_enter"] == {"kind": "person", "credit_limit": "99", "owner_id": boss.id}
    assert [a["name"] for a in state["actions"]] == ["test.welcome", "test.notify"]


def test_entering_applies_typed_values_and_runs_actions(ctx):
    boss = user_svc.create_user(ctx, "boss", None, "manager")
    wf_svc.create_workflow(ctx, {"name": "w", "entity": "customer", "state_field": "stage", "states": [
        {"name": "lead", "initial": True}, {"name": "customer", "on_enter": {"credit_limit": "2500.50", "owner_id": boss.id},
                                            "actions": [{"name": "test.welcome", "params": {"pack": "gold"}}]}],
        "transitions": [{"action": "win", "from_state": "lead", "to_state": "customer"}]})
    acme = customer_svc.create_customer(ctx, {"name": "Acme", "stage": "lead"})
    wf_svc.fire(ctx, "customer", acme.id, "win")
    acme = customer_svc.get_customer(ctx, acme.id)
    assert acme.credit_limit == Decimal("2500.50") and acme.owner_id == boss.id
    assert welcomed == [("Acme", {"pack": "gold"})]


def test_without_the_script_a_choice_typed_in_words_is_its_code(admin, ctx):
    r = admin.post(NEW, data=base_form(admin, **{"states-1-set-0-field": "kind", "states-1-set-0-value": "person ",
                                                 "states-1-set-1-field": "stage", "states-1-set-1-value": "Prospect"}))
    assert r.status_code == 200  # the state field cannot be set: refused, the rest read
    r = admin.post(NEW, data=base_form(admin, **{"states-1-set-0-field": "kind", "states-1-set-0-value": "PERSON"}))
    assert r.status_code == 302 and saved(ctx)["states"][1]["on_enter"] == {"kind": "person"}


def test_editing_keeps_an_actions_parameters(admin, ctx):
    wf = wf_svc.create_workflow(ctx, {"name": "w", "entity": "customer", "state_field": "stage", "states": [
        {"name": "lead", "initial": True}, {"name": "customer", "actions": [{"name": "test.welcome", "params": {"pack": "gold"}}]}],
        "transitions": [{"action": "win", "from_state": "lead", "to_state": "customer"}]})
    url = f"/admin/workflow_designer/workflow/{wf.id}"
    form = base_form(admin, url, version=str(wf.version), **{"states-1-act-0": "test.welcome"})
    assert admin.post(url, data=form).status_code == 302
    assert saved(ctx)["states"][1]["actions"] == [{"name": "test.welcome", "params": {"pack": "gold"}}]


@pytest.mark.parametrize("forged, where, words", [
    ({"states-1-set-0-field": "password_hash", "states-1-set-0-value": "x"}, "states.1.on_enter.password_hash",
     "cannot be set on entering a state"),
    ({"states-1-set-0-field": "stage", "states-1-set-0-value": "lead"}, "states.1.on_enter.stage",
     "cannot be set on entering a state"),
    ({"states-1-set-0-field": "kind", "states-1-set-0-value": "robot<script>"}, "states.1.on_enter.kind",
     "Choose one of: Organisation, Person"),
    ({"states-1-set-0-field": "owner_id", "states-1-set-0-value": "twelve"}, "states.1.on_enter.owner_id",
     "Must be a whole number"),
    ({"states-1-set-0-field": "owner_id", "states-1-set-0-value": "987654"}, "states.1.on_enter.owner_id",
     "No such record"),
    ({"states-1-set-0-field": "credit_limit", "states-1-set-0-value": "lots"}, "states.1.on_enter.credit_limit",
     "Must be a number"),
    ({"states-1-set-0-field": "", "states-1-set-0-value": "orphan"}, "states.1.on_enter.", "Choose the field to set"),
    ({"states-1-set-0-field": "level", "states-1-set-0-value": "A", "states-1-set-1-field": "level",
      "states-1-set-1-value": "B"}, "states.1.on_enter.level", "set twice"),
    ({"states-1-act-0": "os.system"}, "states.1.actions.0", "Unknown action"),
])
def test_forged_input_is_refused_in_words_keeping_what_was_typed(admin, ctx, forged, where, words):
    r = admin.post(NEW, data=base_form(admin, **forged))
    assert r.status_code == 200 and ctx.session.query(WorkflowDefinition).count() == 0
    errors = re.findall(rf'data-field="{re.escape(where)}"[^>]*>([^<]*)<', r.text)
    assert any(words in e for e in errors), errors
    assert "State Customer · " in r.text  # the error list says where in words; no path code shown anywhere
    assert "<code>states." not in r.text and not re.search(r">[^<]*states\.\d", r.text)
    for key, value in forged.items():  # what was typed is there again (escaped)
        if value:
            assert f'value="{value.replace("<", "&lt;").replace(">", "&gt;")}"' in r.text, key
    assert "<script>" not in r.text.replace("<script src", "")


def test_too_many_rows_are_refused(admin, ctx):
    forged = {f"states-1-set-{j}-field": "level" if j == 0 else f"f{j}" for j in range(MAX_ON_ENTER + 20)}
    r = admin.post(NEW, data=base_form(admin, **forged, **{f"states-1-set-{j}-value": "x" for j in range(60)}))
    assert r.status_code == 200 and ctx.session.query(WorkflowDefinition).count() == 0
    assert f"At most {MAX_ON_ENTER} fields can be set" in r.text
    with pytest.raises(ValidationError) as err:  # the API: the same rule
        wf_svc.create_workflow(ctx, {"name": "w", "entity": "customer", "state_field": "stage", "states": [
            {"name": "a", "initial": True, "on_enter": {f"f{j}": 1 for j in range(MAX_ON_ENTER + 1)}}], "transitions": []})
    assert "states.0.on_enter" in err.value.errors


def test_csrf_is_enforced(admin, ctx):
    form = base_form(admin, **{"states-1-set-0-field": "level", "states-1-set-0-value": "A"})
    form["csrf_token"] = "forged"
    r = admin.post(NEW, data=form)
    assert r.status_code in (400, 403) and ctx.session.query(WorkflowDefinition).count() == 0


def test_the_json_view_keeps_what_states_set(admin, ctx):
    wf = wf_svc.create_workflow(ctx, {"name": "w", "entity": "customer", "state_field": "stage", "states": [
        {"name": "lead", "initial": True}, {"name": "customer", "on_enter": {"level": "A"}, "actions": ["test.notify"]}],
        "transitions": [{"action": "win", "from_state": "lead", "to_state": "customer"}]})
    url = f"/admin/workflow_designer/workflow/{wf.id}"
    page = admin.get(url).text
    text = re.search(r'<textarea[^>]*id="definition"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert "on_enter" not in text and "actions" not in text
    definition = json.loads(text.replace("&#34;", '"').replace("&quot;", '"'))
    definition["priority"] = 7
    r = admin.post(url, data={"csrf_token": CSRF.search(page).group(1), "version": str(wf.version),
                              "definition": json.dumps(definition)})
    assert r.status_code == 302
    data = saved(ctx)
    assert data["priority"] == 7 and data["states"][1]["on_enter"] == {"level": "A"}
    assert data["states"][1]["actions"] == [{"name": "test.notify"}]


def test_the_editor_in_chinese(admin, ctx):
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    page = admin.get(NEW).text
    assert "进入时设置" in page and "选择字段" in page and "On entering, set" not in page
    r = admin.post(NEW, data=base_form(admin, **{"states-1-set-0-field": "owner_id", "states-1-set-0-value": "x"}))
    assert re.search(r'data-field="states.1.on_enter.owner_id"[^>]*>[^<]*整数', r.text)
    assert "状态 Customer · 进入时设置 · 负责人" in r.text


def test_a_page_opened_before_the_editor_keeps_what_states_set(admin, ctx):
    """A form from before the editor posts each state's on_enter and actions as hidden JSON and no rows: what it
    carries is saved (checked like any other), not dropped; a page with the editor's rows ignores such a field."""
    old = {"states-1-on_enter": json.dumps({"kind": "person", "level": "A"}), "states-1-actions": '["test.welcome"]'}
    r = admin.post(NEW, data=base_form(admin, **old))
    assert r.status_code == 302, r.text
    state = saved(ctx)["states"][1]
    assert state["on_enter"] == {"kind": "person", "level": "A"} and [a["name"] for a in state["actions"]] == ["test.welcome"]
    wf = ctx.session.query(WorkflowDefinition).one()
    r = admin.post(f"/admin/workflow_designer/workflow/{wf.id}", data=base_form(
        admin, f"/admin/workflow_designer/workflow/{wf.id}", **{**old, "states-1-set-0-field": "kind",
                                                                "states-1-set-0-value": "organization"}))
    assert r.status_code == 302, r.text
    assert saved(ctx)["states"][1]["on_enter"] == {"kind": "organization"} and saved(ctx)["states"][1]["actions"] == []
    r = admin.post(NEW, data=base_form(admin, name="Bad", **{"states-1-on_enter": json.dumps({"kind": "robot"})}))
    assert r.status_code == 200 and "robot" not in [s["on_enter"].get("kind") for s in
                                                    (wf_svc.describe(w)["states"][1] for w in
                                                     ctx.session.query(WorkflowDefinition).all())]
