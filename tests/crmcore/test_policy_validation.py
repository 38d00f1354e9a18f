"""Workflow definitions and approval policies: one schema-based validation each, loaded in the service, with
conditions checked against the entity's metadata; and the condition preview (count and sample) endpoint."""
from __future__ import annotations

import pytest

from crmcore.errors import ValidationError
from crmcore.services import approvals as appr
from crmcore.services import custom_fields
from crmcore.services import workflow as wf_svc

STATES = [{"name": "lead", "initial": True}, {"name": "prospect"}]


def workflow(guard):
    return {"name": "w", "entity": "customer", "state_field": "stage", "states": STATES,
            "transitions": [{"action": "qualify", "from_state": "lead", "to_state": "prospect", "guard": guard}]}


def guard_errors(ctx, guard):
    with pytest.raises(ValidationError) as err:
        wf_svc.create_workflow(ctx, workflow(guard))
    return err.value.errors["transitions.0.guard"]


def test_an_unknown_field_lists_the_near_names(ctx):
    [problem] = guard_errors(ctx, {"field": "credit_limt", "op": "gt", "value": 5})
    assert "credit_limt" in problem and "credit_limit" in problem


def test_an_operator_must_fit_the_fields_type(ctx):
    [problem] = guard_errors(ctx, {"field": "credit_limit", "op": "contains", "value": "5"})
    assert "condition.op" in problem and "amount" in problem and "gt" in problem
    [problem] = guard_errors(ctx, {"field": "credit_limit", "op": "gt", "value": "lots"})
    assert "condition.value" in problem and "number" in problem


def test_a_choice_field_takes_one_of_its_choices(ctx):
    [problem] = guard_errors(ctx, {"any": [{"field": "stage", "op": "eq", "value": "lead"},
                                           {"field": "stage", "op": "in", "value": ["prospect", "vip"]}]})
    assert "condition.any.1.value" in problem and "'vip'" in problem and "prospect (" in problem
    assert wf_svc.create_workflow(ctx, workflow({"field": "stage", "op": "in", "value": ["lead", "prospect"]})).id


def test_related_custom_and_deeper_fields(ctx, make_user):
    custom_fields.create_field(ctx, {"entity": "customer", "name": "region", "label": "Region", "type": "text"})
    ok = {"all": [{"field": "owner.username", "op": "eq", "value": "ann"},  # one hop: typed by the user's metadata
                  {"field": "attributes.region", "op": "eq", "value": "north"},  # a custom field
                  {"field": "owner.team.name", "op": "eq", "value": "East"}]}  # two hops: checked on the model
    assert wf_svc.create_workflow(ctx, workflow(ok)).id
    [problem] = guard_errors(ctx, {"field": "owner.active", "op": "gt", "value": 1})
    assert "condition.op" in problem and "yes/no" in problem


def test_the_messages_are_in_the_readers_language(app, ctx):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        [problem] = guard_errors(ctx, {"field": "credit_limit", "op": "contains", "value": "5"})
    assert "金额" in problem and "amount" not in problem


def test_nested_schema_errors_point_at_their_field(ctx):
    with pytest.raises(ValidationError) as err:
        appr.create_policy(ctx, {"name": "p", "entity": "customer", "tiers": [
            {"step": 1, "reviewers": [{"kind": "role", "value": "manager"}], "mode": "random", "quorum": -1},
            {"step": 2, "reviewers": [{"kind": "manager_of", "value": "ownr_id"}],
             "condition": {"field": "stage", "op": "eq", "value": "vip"}}], "key_fields": ["credit_limt"]})
    errors = err.value.errors
    assert set(errors) >= {"tiers.0.mode", "tiers.0.quorum", "tiers.1.reviewers.0", "tiers.1.condition", "key_fields"}
    assert "owner_id" in errors["tiers.1.reviewers.0"][0] and "credit_limit" in errors["key_fields"][0]
    assert "'vip'" in errors["tiers.1.condition"][0]


def test_the_api_gives_the_services_words(client, admin_headers):
    body = workflow({"field": "stage", "op": "eq", "value": "vip"})
    r = client.post("/api/v1/workflows", json=body, headers=admin_headers)
    assert r.status_code == 422 and "'vip'" in r.json["errors"]["transitions.0.guard"][0]
    policy = {"name": "p", "entity": "customer", "tiers": [{"reviewers": [{"kind": "role", "value": "manager"}],
                                                            "condition": {"field": "credit_limt", "op": "gt", "value": 1}}]}
    r = client.post("/api/v1/workflows/policies", json=policy, headers=admin_headers)
    assert r.status_code == 422 and "credit_limit" in r.json["errors"]["tiers.0.condition"][0]


def test_matches_counts_and_samples_within_the_record_scope(client, admin_headers, make_user, make_customer):
    rep, rep_headers = make_user("sales")
    other, _ = make_user("sales")
    for i in range(3):
        make_customer(f"Big {i}", rep, credit_limit="50000")
    make_customer("Big other", other, credit_limit="90000")
    make_customer("Small", rep, credit_limit="10")
    condition = {"field": "credit_limit", "op": "gt", "value": 1000}
    r = client.post("/api/v1/meta/entities/customer/matches", json={"condition": condition, "limit": 2},
                    headers=admin_headers)
    assert r.status_code == 200 and r.json["count"] == 4 and len(r.json["sample"]) == 2
    assert {s["title"] for s in r.json["sample"]} <= {"Big 0", "Big 1", "Big 2", "Big other"}
    mine = client.post("/api/v1/meta/entities/customer/matches", json={"condition": condition}, headers=rep_headers).json
    assert mine["count"] == 3 and {s["title"] for s in mine["sample"]} == {"Big 0", "Big 1", "Big 2"}


def test_matches_refuses_bad_input_and_unauthorised_callers(client, admin_headers, make_user):
    url = "/api/v1/meta/entities/customer/matches"
    assert client.post(url, json={}).status_code == 401
    r = client.post(url, json={"condition": None, "limit": 1000}, headers=admin_headers)
    assert r.status_code == 422 and "limit" in r.json["errors"]
    r = client.post(url, json={"condition": {"field": "stage", "op": "gt", "value": "x"}}, headers=admin_headers)
    assert r.status_code == 422 and "condition.op" in r.json["errors"]
    _, rep = make_user("sales")
    assert client.post("/api/v1/meta/entities/user/matches", json={}, headers=rep).status_code == 404


def test_malformed_definitions_are_refused_by_field_not_with_a_server_error(client, admin_headers):
    """Found by the fuzzer: a checker met a value its schema had refused (a NUL in a name next to unknown
    states) or accepted only as raw (an action that is a list)."""
    for body, field in (({"name": "\u0000", "entity": "customer", "state_field": "stage",
                          "transitions": [{"from_state": "a", "to_state": "b", "action": "go", "roles": [""]}]}, "name"),
                        ({"name": "ok", "entity": "customer", "state_field": "stage",
                          "states": [{"name": "s", "initial": True, "actions": [[{}, False, {}]]}]},
                         "states.0.actions.0")):
        r = client.post("/api/v1/workflows", json=body, headers=admin_headers)
        assert r.status_code == 422 and field in r.json["errors"], r.json
