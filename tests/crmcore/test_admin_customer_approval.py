"""A customer's approval (credit limit above 100 000 needs the owner's manager) shows in the
manager's inbox with the customer's name and the reason in words, links to the customer's page,
and is decided there; the page goes back to the customer."""
from __future__ import annotations

import re
from typing import Any

from crmcore.models import ApprovalRequest
from crmcore.services import approvals as appr
from crmcore.services import customers as customer_svc
from crmcore.services import workflow as wf_svc
from crmcore.testing.admin import admin_login, csrf_token


def test_decide_a_customers_approval_from_its_page(app: Any, rt: Any, ctx: Any, make_user: Any) -> None:
    boss, _ = make_user("manager", team="East", username="boss")
    rep, _ = make_user("sales", team="East", username="rep")
    rep.full_name = "Rita Rep"
    rep.team.manager_id = boss.id
    ctx.session.commit()
    appr.create_policy(ctx, {"name": "big-win", "entity": "customer", "provider": "internal",
                             "tiers": [{"step": 1, "name": "Large credit",
                                        "condition": {"field": "credit_limit", "op": "gt", "value": 100000},
                                        "reviewers": [{"kind": "manager_of", "value": "owner_id"}]}]})
    wf_svc.create_workflow(ctx, {
        "name": "lifecycle", "entity": "customer", "state_field": "stage",
        "states": [{"name": "lead"}, {"name": "prospect"}, {"name": "customer"}],
        "transitions": [{"action": "win", "from_state": "prospect", "to_state": "customer", "policy": "big-win"}]})
    acme = customer_svc.create_customer(ctx, {"name": "Acme Credit", "owner_id": rep.id, "stage": "prospect",
                                              "credit_limit": "200000"})
    acme_id = acme.id
    result = wf_svc.fire(rt.context(actor=rep, source="api"), "customer", acme_id, "win")
    assert result["status"] == "pending_approval"
    manager = admin_login(app.test_client(), "boss", lang="en")
    inbox = manager.get("/admin/approval_inbox/").text
    row = inbox[inbox.index('class="approval-task"'):inbox.index('class="approval-decide"')]
    assert f'href="/admin/customer/details/?id={acme_id}"' in row and "Acme Credit" in row and "Rita Rep" in row
    assert "Large credit: Credit limit &gt; 100000" in row
    url = f"/admin/customer/details/?id={acme_id}"
    page = manager.get(url).text
    assert "This record waits for your decision." in page
    request_id = int(re.search(r'crm-record-decision" data-request="(\d+)"', page).group(1))
    r = manager.post(f"/admin/approval_inbox/{request_id}/decide", data={
        "csrf_token": csrf_token(page), "decision": "approve", "comment": "good payer", "next": url})
    assert r.status_code == 302 and r.headers["Location"].endswith(url)
    ctx.session.expire_all()
    assert ctx.session.get(ApprovalRequest, request_id).status == "approved"
    assert customer_svc.get_customer(ctx, acme_id).stage == "customer"
    assert "This record waits for your decision." not in manager.get(url).text
