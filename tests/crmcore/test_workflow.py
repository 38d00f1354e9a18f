"""The workflow engine on customers: definitions as data, choosing a workflow, firing transitions
(roles, guards, field updates, actions), and the API with its SVG picture."""
from __future__ import annotations

from typing import Any

import pytest

from crmcore import hookimpl
from crmcore.contracts_workflow import WorkflowAction
from crmcore.errors import Conflict, PermissionDenied, ValidationError
from crmcore.models import AuditLog
from crmcore.services import customers as customer_svc
from crmcore.services import users as user_svc
from crmcore.services import workflow as wf_svc

LIFECYCLE = {
    "name": "customer-lifecycle", "entity": "customer", "state_field": "stage", "priority": 10,
    "states": [{"name": "lead", "initial": True}, {"name": "prospect"},
               {"name": "customer", "on_enter": {"level": "A"}, "actions": ["test.welcome"]},
               {"name": "churned", "final": True}],
    "transitions": [
        {"action": "qualify", "from_state": "lead", "to_state": "prospect"},
        {"action": "win", "from_state": "prospect", "to_state": "customer", "roles": ["manager"],
         "guard": {"field": "email", "op": "is_null", "value": False}},
        {"action": "churn", "from_state": "*", "to_state": "churned", "roles": ["manager", "sales"]},
    ],
}

welcomed: list[Any] = []


class Actions:
    @hookimpl
    def crm_register_workflow_actions(self):
        return [WorkflowAction("test.welcome", lambda ctx, record, params: welcomed.append(record.name))]


@pytest.fixture
def app(make_app):
    welcomed.clear()
    return make_app(plugins=[("wftest", Actions())])


@pytest.fixture
def people(ctx):
    boss = user_svc.create_user(ctx, "boss", None, "manager", team="East")
    rep = user_svc.create_user(ctx, "rep", None, "sales", team="East")
    return boss, rep


def as_user(rt, user):
    return rt.context(actor=user, source="test")


def test_definition_is_validated_by_path(ctx):
    bad = {**LIFECYCLE, "states": [{"name": "lead"}, {"name": "lead", "on_enter": {"password_hash": "x"}}],
           "transitions": [{"action": "go", "from_state": "lead", "to_state": "nowhere",
                            "guard": {"field": "x", "op": "zz", "value": 1}, "policy": "missing"}]}
    with pytest.raises(ValidationError) as err:
        wf_svc.create_workflow(ctx, bad)
    errors = err.value.errors
    assert "states.1.name" in errors and "states.1.on_enter.password_hash" in errors and "states.2.actions.0" not in errors
    assert "transitions.0.to_state" in errors and "transitions.0.policy" in errors
    assert any("unknown operator 'zz'" in e for e in errors["transitions.0.guard"])
    with pytest.raises(ValidationError) as err:
        wf_svc.create_workflow(ctx, {**LIFECYCLE, "entity": "spaceship"})
    assert "entity" in err.value.errors


def test_fire_checks_roles_guards_and_applies_field_updates(rt, ctx, people):
    boss, rep = people
    wf_svc.create_workflow(ctx, LIFECYCLE)
    acme = customer_svc.create_customer(ctx, {"name": "Acme", "owner_id": rep.id, "stage": "lead"})
    rep_ctx = as_user(rt, rep)
    assert wf_svc.fire(rep_ctx, "customer", acme.id, "qualify") == {"status": "done", "state": "prospect"}
    with pytest.raises(PermissionDenied):
        wf_svc.fire(rep_ctx, "customer", acme.id, "win")
    boss_ctx = as_user(rt, boss)
    with pytest.raises(Conflict, match="conditions"):
        wf_svc.fire(boss_ctx, "customer", acme.id, "win")  # the guard wants an e-mail
    customer_svc.update_customer(ctx, acme.id, {"email": "buy@acme.example"})
    with pytest.raises(Conflict, match="not possible"):
        wf_svc.fire(boss_ctx, "customer", acme.id, "qualify")
    assert wf_svc.fire(boss_ctx, "customer", acme.id, "win")["state"] == "customer"
    fresh = rt.db.new_session()
    stored = customer_svc.get_customer(rt.context(session=fresh), acme.id)
    assert (stored.stage, stored.level) == ("customer", "A")
    assert welcomed == ["Acme"]
    entry = fresh.query(AuditLog).filter_by(entity="customer", entity_id=str(acme.id)).order_by(AuditLog.id.desc()).first()
    assert entry.actor_label == "boss" and entry.changes["stage"] == ["prospect", "customer"]
    assert entry.changes["level"][1] == "A"
    # "*" leaves every state
    assert wf_svc.fire(rep_ctx, "customer", acme.id, "churn")["state"] == "churned"
    fresh.close()


def test_the_first_workflow_by_priority_whose_condition_holds_applies(ctx, people):
    _, rep = people
    wf_svc.create_workflow(ctx, LIFECYCLE)
    wf_svc.create_workflow(ctx, {**LIFECYCLE, "name": "vip", "priority": 50,
                                 "condition": {"field": "name", "op": "startswith", "value": "VIP"},
                                 "transitions": [{"action": "qualify", "from_state": "lead", "to_state": "customer"}]})
    normal = customer_svc.create_customer(ctx, {"name": "Plain", "owner_id": rep.id})
    vip = customer_svc.create_customer(ctx, {"name": "VIP Corp", "owner_id": rep.id})
    assert wf_svc.workflow_for(ctx, "customer", normal).name == "customer-lifecycle"
    assert wf_svc.workflow_for(ctx, "customer", vip).name == "vip"
    assert wf_svc.fire(ctx, "customer", vip.id, "qualify")["state"] == "customer"
    assert wf_svc.fire(ctx, "customer", normal.id, "qualify")["state"] == "prospect"
    actions = wf_svc.available_actions(ctx, "customer", normal.id)
    assert actions["workflow"] == "customer-lifecycle" and actions["state"] == "prospect"
    assert {a["action"]: a["allowed"] for a in actions["actions"]} == {"win": False, "churn": True}


def test_record_rules_apply_when_firing(rt, ctx, people, make_user):
    _, rep = people
    other = user_svc.create_user(ctx, "other", None, "sales", team="West")
    wf_svc.create_workflow(ctx, LIFECYCLE)
    acme = customer_svc.create_customer(ctx, {"name": "Acme", "owner_id": rep.id})
    with pytest.raises(Exception) as err:
        wf_svc.fire(as_user(rt, other), "customer", acme.id, "qualify")
    assert getattr(err.value, "status", None) in (403, 404)


def test_api_designs_fires_and_draws(client, make_user, ctx):
    _, admin = make_user("admin", username="root")
    rep, rep_headers = make_user("sales", username="rep")
    r = client.post("/api/v1/workflows", json=LIFECYCLE, headers=admin)
    assert r.status_code == 201, r.json
    wf = r.json
    assert [s["name"] for s in wf["states"]] == ["lead", "prospect", "customer", "churned"]
    assert client.post("/api/v1/workflows", json=LIFECYCLE, headers=rep_headers).status_code == 403
    assert client.get("/api/v1/workflows", headers={}).status_code == 401
    bad = client.post("/api/v1/workflows", json={**LIFECYCLE, "name": "x", "transitions": [
        {"action": "a", "from_state": "lead", "to_state": "lead", "guard": {"any": []}}]}, headers=admin)
    assert bad.status_code == 422 and "transitions.0.guard" in bad.json["errors"]

    stale = client.put(f"/api/v1/workflows/{wf['id']}", json={**LIFECYCLE, "version": wf["version"] + 5}, headers=admin)
    assert stale.status_code == 409
    changed = client.put(f"/api/v1/workflows/{wf['id']}", json={**LIFECYCLE, "priority": 20, "version": wf["version"]},
                         headers=admin)
    assert changed.status_code == 200, changed.json
    assert changed.json["priority"] == 20 and changed.json["version"] == wf["version"] + 1

    acme = customer_svc.create_customer(ctx, {"name": "Acme", "owner_id": rep.id})
    assert client.get(f"/api/v1/workflows/records/customer/{acme.id}", headers=rep_headers).json["state"] == "lead"
    r = client.post(f"/api/v1/workflows/records/customer/{acme.id}/fire", json={"action": "qualify"}, headers=rep_headers)
    assert r.status_code == 200 and r.json == {"status": "done", "state": "prospect"}

    asked = {"condition": {"field": "owner.username", "op": "eq", "value": "rep"}, "entity": "customer",
             "record_id": acme.id}
    # evaluating against a record shows the values it reads (related records' too): designers only
    assert client.post("/api/v1/workflows/conditions/check", headers=rep_headers, json=asked).status_code == 403
    check = client.post("/api/v1/workflows/conditions/check", headers=admin, json=asked)
    assert check.json["valid"] and check.json["result"] is True
    assert check.json["explain"] == [{"leaf": "condition owner.username eq rep", "value": "rep", "result": True}]
    invalid = client.post("/api/v1/workflows/conditions/check", headers=rep_headers, json={"condition": {"field": "a"
                                                                                                         , "op": "?"}})
    assert invalid.json["valid"] is False and "unknown operator" in invalid.json["errors"][0]

    svg = client.get(f"/api/v1/workflows/{wf['id']}/diagram.svg", headers=rep_headers)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    body = svg.get_data(as_text=True)
    assert body.startswith("<svg") and body.count('class="state"') == 4 and body.count('class="transition"') >= 6
    assert ">qualify<" in body and ">churned<" in body
    assert client.delete(f"/api/v1/workflows/{wf['id']}", headers=admin).status_code == 204
