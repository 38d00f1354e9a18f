"""The approval policy form without JSON (reviewers by name, codes as words, errors next to their field), the
condition builder's endpoints (fields with labels, live count under the record scope) and the round trip
between the form and the JSON view."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from crmcore.services import approvals
from crmcore.services import customers as customer_svc
from crmcore.services import users as user_svc
from crmcore.testing import admin_login

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
PASSWORD = "password123"
BIG = {"field": "credit_limit", "op": "gt", "value": 100000}


def login(client: Any, username: str) -> None:
    admin_login(client, username, PASSWORD)


@pytest.fixture
def admin(client, ctx):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    user_svc.create_user(ctx, "root", PASSWORD, "admin")
    login(client, "root")
    return client


def form_of(client: Any, url: str, **fields: Any) -> dict[str, Any]:
    csrf = CSRF.search(client.get(url).text).group(1)
    return {"csrf_token": csrf, "entity": "customer", "name": "Credit", "action": "raise_credit", "provider": "internal",
            "active": "1", **fields}


def test_a_new_policy_starts_by_choosing_the_records(admin):
    page = admin.get("/admin/workflow_designer/policy/new")
    assert page.status_code == 200 and 'name="entity"' in page.text and "Customers" in page.text
    form = admin.get("/admin/workflow_designer/policy/new?entity=customer").text
    assert "condition-builder" in form and "Manager of: Owner" in form and "One after another (sequential)" in form
    assert 'name="definition"' in form  # the advanced view
    assert "manager_of</option>" not in form and ">parallel<" not in form  # no codes as words


def test_the_form_saves_tiers_reviewers_and_rules(admin, ctx):
    user_svc.create_user(ctx, "dora", PASSWORD, "manager", full_name="Dora Director")
    url = "/admin/workflow_designer/policy/new?entity=customer"
    r = admin.post(url, data={**form_of(admin, url), "tiers-0-condition": json.dumps(BIG),
                              "tiers-0-reviewers": ["manager_of:owner_id"], "tiers-0-quorum": "1",
                              "tiers-0-mode": "parallel", "tiers-0-remind_after": "24",
                              "tiers-1-condition": json.dumps({"field": "credit_limit", "op": "gt", "value": 500000}),
                              "tiers-1-reviewers": ["user:dora", "role:manager"], "tiers-1-quorum": "0",
                              "tiers-1-mode": "sequential", "tiers-1-escalate_to": "reject:",
                              "tiers-2-reviewers": ["role:manager"], "tiers-2-removed": "1",
                              "key_fields": ["credit_limit"], "field_mapping": "name = title\n"},
                   follow_redirects=False)
    assert r.status_code == 302, r.text
    [policy] = approvals.list_policies(ctx)
    data = approvals.describe_policy(policy)
    assert [t["condition"] for t in data["tiers"]] == [BIG, {"field": "credit_limit", "op": "gt", "value": 500000}]
    assert data["tiers"][0]["reviewers"] == [{"kind": "manager_of", "value": "owner_id"}]
    assert data["tiers"][0]["remind_after"] == 24 * 3600
    assert data["tiers"][1]["reviewers"] == [{"kind": "user", "value": "dora"}, {"kind": "role", "value": "manager"}]
    assert data["tiers"][1]["mode"] == "sequential" and data["tiers"][1]["escalate_to"] == {"kind": "reject", "value": None}
    assert data["key_fields"] == ["credit_limit"] and data["field_mapping"] == {"name": "title"}
    page = admin.get(r.headers["Location"]).text
    assert "Dora Director" in page and f"value='{json.dumps(BIG)}'" in page.replace("&#34;", '"')


def test_errors_are_in_the_readers_language_next_to_their_field(admin):
    url = "/admin/workflow_designer/policy/new?entity=customer"
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    r = admin.post(url, data={**form_of(admin, url), "name": "", "tiers-0-reviewers": [],
                              "tiers-0-condition": json.dumps({"field": "credit_limit", "op": "contains", "value": "1"})})
    assert r.status_code == 200
    assert re.search(r'data-field="tiers\.0\.condition">[^<]*金额', r.text)
    assert 'data-field="tiers.0.reviewers"' in r.text and 'data-field="name"' in r.text


def test_the_json_view_round_trips_with_the_form(admin, ctx):
    url = "/admin/workflow_designer/policy/new?entity=customer"
    condition = {"any": [BIG, {"all": [{"field": "stage", "op": "in", "value": ["customer"]},
                                       {"field": "owner.username", "op": "eq", "value": "ann"}]}]}
    admin.post(url, data={**form_of(admin, url), "tiers-0-condition": json.dumps(condition),
                          "tiers-0-reviewers": ["role:manager"]})
    [policy] = approvals.list_policies(ctx)
    page = admin.get(f"/admin/workflow_designer/policy/{policy.id}").text
    text = re.search(r'<textarea[^>]*name="definition"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    shown = json.loads(text.replace("&#34;", '"').replace("&#39;", "'"))
    assert shown["tiers"][0]["condition"] == condition
    csrf = CSRF.search(page).group(1)
    shown["tiers"][0]["condition"] = BIG  # edited as JSON, saved, shown in the form again
    admin.post(f"/admin/workflow_designer/policy/{policy.id}", data={"csrf_token": csrf, "definition": json.dumps(shown)})
    page = admin.get(f"/admin/workflow_designer/policy/{policy.id}").text
    assert f"value='{json.dumps(BIG)}'" in page.replace("&#34;", '"')


def test_the_policy_page_previews_the_records_that_would_need_approval(admin, ctx):
    for name, limit in (("Big One", 200000), ("Big Two", 300000), ("Small", 10)):
        customer_svc.create_customer(ctx, {"name": name, "credit_limit": limit})
    policy = approvals.create_policy(ctx, {"name": "Credit", "entity": "customer", "tiers": [
        {"condition": BIG, "reviewers": [{"kind": "role", "value": "manager"}]}]})
    page = admin.get(f"/admin/workflow_designer/policy/{policy.id}").text
    assert re.search(r'preview-count">2<', page) and "Big One" in page and "Small" not in page


def test_builder_endpoints_need_login_csrf_and_scope(app, admin, ctx):
    meta = admin.get("/admin/workflow_designer/builder/meta/customer").json
    fields = {f["name"]: f for f in meta["fields"]}
    assert fields["stage"]["label"] == "Stage" and fields["owner.username"]["source"] == "related"
    assert "contains" not in meta["operators"]["money"] and any(u["label"] == "root" for u in meta["users"])
    page = admin.get("/admin/workflow_designer/policy/new?entity=customer").text
    csrf = CSRF.search(page).group(1)
    customer_svc.create_customer(ctx, {"name": "Big", "credit_limit": 200000})
    url = "/admin/workflow_designer/builder/matches/customer"
    assert admin.post(url, json={"condition": BIG}).status_code == 400  # no CSRF token
    r = admin.post(url, json={"condition": BIG, "limit": 5}, headers={"X-CSRFToken": csrf})
    assert r.status_code == 200 and r.json["count"] == 1 and r.json["sample"][0]["title"] == "Big"
    r = admin.post(url, json={"condition": {"field": "credit_limt", "op": "gt", "value": 1}}, headers={"X-CSRFToken": csrf})
    assert r.status_code == 422 and "credit_limit" in r.json["errors"]["condition.field"][0]
    stranger = app.test_client()
    assert stranger.get("/admin/workflow_designer/builder/meta/customer").status_code in (302, 401, 403)
    user_svc.create_user(ctx, "rita", PASSWORD, "sales")
    login(stranger, "rita")  # a rep may not design workflows
    assert stranger.get("/admin/workflow_designer/builder/meta/customer").status_code == 403
