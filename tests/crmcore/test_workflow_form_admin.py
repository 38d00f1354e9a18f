"""The workflow designer without JSON: a new workflow from the form (states and transitions as rows, guards
from the condition builder), edits of an existing one, the JSON round trip, and the diagram's words."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from crmcore.models import WorkflowDefinition
from crmcore.services import approvals
from crmcore.services import users as user_svc
from crmcore.services import workflow as wf_svc
from crmcore.services.diagram import render_svg
from crmcore.testing import admin_login

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
PASSWORD = "password123"
GUARD = {"field": "credit_limit", "op": "gt", "value": 1000}


@pytest.fixture
def admin(client, ctx):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    user_svc.create_user(ctx, "root", PASSWORD, "admin")
    admin_login(client, "root", PASSWORD)
    return client


def new_form(client: Any, **fields: Any) -> dict[str, Any]:
    page = client.get("/admin/workflow_designer/workflow/new").text
    assert "condition-builder" in page and 'id="state-template"' in page
    return {"csrf_token": CSRF.search(page).group(1), "name": "Credit", "entity": "customer", "state_field": "stage",
            "priority": "100", "active": "1", "states-0-name": "lead", "states-0-initial": "1",
            "states-1-name": "customer", "states-1-label": "Customer", "states-2-name": "",
            "transitions-0-action": "win", "transitions-0-from_state": "lead", "transitions-0-to_state": "customer",
            "transitions-0-guard": json.dumps(GUARD), "transitions-0-roles": ["manager"], **fields}


def test_a_new_workflow_from_the_form(admin, ctx):
    r = admin.post("/admin/workflow_designer/workflow/new", data=new_form(admin))
    assert r.status_code == 302, r.text
    wf = ctx.session.query(WorkflowDefinition).one()
    data = wf_svc.describe(wf)
    assert [s["name"] for s in data["states"]] == ["lead", "customer"] and data["states"][0]["initial"]
    assert data["transitions"] == [{"action": "win", "label": None, "from_state": "lead", "to_state": "customer",
                                    "roles": ["manager"], "guard": GUARD, "allow_self_approval": False, "policy": None}]
    page = admin.get(r.headers["Location"]).text
    assert "<svg" in page and f"value='{json.dumps(GUARD)}'" in page.replace("&#34;", '"')


def test_errors_point_at_the_row(admin):
    r = admin.post("/admin/workflow_designer/workflow/new", data=new_form(
        admin, **{"transitions-0-to_state": "mars", "transitions-0-guard": json.dumps({**GUARD, "value": "lots"})}))
    assert r.status_code == 200
    assert 'data-field="transitions.0.to_state"' in r.text and 'data-field="transitions.0.guard"' in r.text
    assert 'value="mars"' in r.text  # what was typed is kept


def test_editing_keeps_what_the_form_does_not_show(admin, ctx):
    wf = wf_svc.create_workflow(ctx, {"name": "w", "entity": "customer", "state_field": "stage", "states": [
        {"name": "lead", "initial": True}, {"name": "customer", "on_enter": {"level": "A"}}],
        "transitions": [{"action": "win", "from_state": "lead", "to_state": "customer"}]})
    url = f"/admin/workflow_designer/workflow/{wf.id}"
    page = admin.get(url).text
    form = {"csrf_token": CSRF.search(page).group(1), "version": str(wf.version), "name": "w", "entity": "customer",
            "state_field": "stage", "priority": "100", "active": "1",
            "states-0-name": "lead", "states-0-initial": "1", "states-1-name": "customer",
            "states-1-set-0-field": "level", "states-1-set-0-value": "A", "states-2-name": "lost",
            "transitions-0-action": "win", "transitions-0-from_state": "lead", "transitions-0-to_state": "customer",
            "transitions-1-action": "lose", "transitions-1-to_state": "lost", "transitions-1-removed": ""}
    assert admin.post(url, data=form).status_code == 302
    ctx.session.expire_all()
    data = wf_svc.describe(ctx.session.get(WorkflowDefinition, wf.id))
    assert [s["name"] for s in data["states"]] == ["lead", "customer", "lost"]
    assert data["states"][1]["on_enter"] == {"level": "A"}
    assert data["transitions"][1]["from_state"] == "*"  # empty "from": any state


def test_the_diagram_says_approval_in_the_readers_language(app, ctx):
    approvals.create_policy(ctx, {"name": "p", "entity": "customer", "tiers": [
        {"reviewers": [{"kind": "role", "value": "manager"}]}]})
    wf = wf_svc.create_workflow(ctx, {"name": "w", "entity": "customer", "state_field": "stage", "states": [
        {"name": "lead", "initial": True}, {"name": "customer"}],
        "transitions": [{"action": "win", "from_state": "lead", "to_state": "customer", "policy": "p"}]})
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        svg = render_svg(wf)
    assert "win" in svg and "审批" in svg and "(approval)" not in svg
