"""The example of issue 6 end to end: a quote discounted more than 15% cannot be confirmed (turned
into an order) until the rep's sales manager approves; first with the internal provider through
the API, then with the webhook provider through a real HTTP OA and signed callbacks, where a
duplicate, replayed, badly signed or out-of-order callback changes nothing."""
from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.oa import delivery as oa_delivery
from adapters.oa import settings as oa_settings
from adapters.oa.models import OACallback
from crmcore.models import ApprovalRequest, OutboxMessage
from crmcore.services import approvals
from crmcore.services import jobs
from plugins.sales.models import Quote

from .webhook_oa import WebhookOA

SECRET = "s3cret-shared-with-the-oa"


def policy(provider: str = "internal", **extra: Any) -> dict[str, Any]:
    return {"name": "quote-discount", "entity": "quote", "action": "submit", "provider": provider,
            "template": "crm-quote", "field_mapping": {"quote_no": "number", "amount": "total", "customer": "customer.name"},
            "key_fields": ["total"],
            "tiers": [{"step": 1, "condition": {"predicate": "sales.quote.discount_over", "args": {"percent": 15}},
                       "reviewers": [{"kind": "manager_of", "value": "owner_id"}]}], **extra}


def new_quote(client: Any, people: dict[str, Any], discount: str) -> int:
    r = client.post("/api/v1/sales/quotes", headers=people["rep_h"], json={
        "customer_id": people["customer"].id,
        "lines": [{"description": "Widget", "quantity": "10", "unit_price": "100.00", "discount_percent": discount}]})
    assert r.status_code == 201, r.json
    return r.json["id"]


def submit(client: Any, people: dict[str, Any], quote_id: int) -> dict[str, Any]:
    r = client.post(f"/api/v1/sales/quotes/{quote_id}/submit", headers=people["rep_h"])
    assert r.status_code == 200, r.json
    return r.json


def to_order(client: Any, people: dict[str, Any], quote_id: int) -> Any:
    return client.post(f"/api/v1/sales/quotes/{quote_id}/order", headers=people["rep_h"], json={})


def test_internal_provider_quote_over_15_percent_needs_the_managers_approval(client, ctx, people, sessions):
    r = client.post("/api/v1/workflows/policies", json=policy(), headers={**people["boss_h"]})
    assert r.status_code == 403  # designing policies is for admins
    approvals.create_policy(ctx, policy())

    small = new_quote(client, people, "10")
    assert submit(client, people, small)["status"] == "approved"  # 10% needs nobody

    big = new_quote(client, people, "20")
    assert submit(client, people, big)["status"] == "pending_approval"
    r = to_order(client, people, big)
    assert r.status_code == 409 and "needs approval" in r.json["message"]

    inbox = client.get("/api/v1/approvals/inbox", headers=people["boss_h"]).json
    assert [(i["request"]["entity"], i["request"]["entity_id"]) for i in inbox] == [("quote", big)]
    assert client.get("/api/v1/approvals/inbox", headers=people["m2_h"]).json == []  # not the rep's manager
    request_id = inbox[0]["request_id"]
    assert client.post(f"/api/v1/approvals/{request_id}/approve", json={}, headers=people["rep_h"]).status_code == 403
    r = client.post(f"/api/v1/approvals/{request_id}/approve", json={"comment": "ok, strategic account"},
                    headers=people["boss_h"])
    assert r.status_code == 200 and r.json["status"] == "approved"

    quote = client.get(f"/api/v1/sales/quotes/{big}", headers=people["rep_h"]).json
    assert quote["status"] == "approved"
    order = to_order(client, people, big)
    assert order.status_code == 201, order.json
    decisions = client.get(f"/api/v1/approvals/{request_id}", headers=people["rep_h"]).json["decisions"]
    assert [(d["decision"], d["actor_label"], d["comment"]) for d in decisions] == [
        ("submitted", "rep", None), ("approved", "boss", "ok, strategic account")]


def test_editing_a_quote_under_review_restarts_the_review_on_key_fields_only(client, ctx, people):
    """The policy's key field is ``total``: a note leaves the review running; new lines end it and open a
    new one on the changed quote; a discount that needs nobody any more approves the quote at once."""
    approvals.create_policy(ctx, policy())
    big = new_quote(client, people, "20")
    assert submit(client, people, big)["status"] == "pending_approval"
    [first] = client.get("/api/v1/approvals/inbox", headers=people["boss_h"]).json

    r = client.patch(f"/api/v1/sales/quotes/{big}", json={"notes": "delivery in May"}, headers=people["rep_h"])
    assert r.status_code == 200 and r.json["status"] == "pending_approval"
    assert [i["request_id"] for i in client.get("/api/v1/approvals/inbox", headers=people["boss_h"]).json] == [
        first["request_id"]]

    deeper = [{"description": "Widget", "quantity": "10", "unit_price": "100.00", "discount_percent": "25"}]
    r = client.patch(f"/api/v1/sales/quotes/{big}", json={"lines": deeper}, headers=people["rep_h"])
    assert r.status_code == 200 and r.json["status"] == "pending_approval" and r.json["total"] == "750.00"
    [second] = client.get("/api/v1/approvals/inbox", headers=people["boss_h"]).json
    assert second["request_id"] != first["request_id"]
    old = client.get(f"/api/v1/approvals/{first['request_id']}", headers=people["rep_h"]).json
    assert old["status"] == "terminated" and old["decisions"][-1]["decision"] == "restarted"

    modest = [{"description": "Widget", "quantity": "10", "unit_price": "100.00", "discount_percent": "5"}]
    r = client.patch(f"/api/v1/sales/quotes/{big}", json={"lines": modest}, headers=people["rep_h"])
    assert r.status_code == 200 and r.json["status"] == "approved"
    assert client.get("/api/v1/approvals/inbox", headers=people["boss_h"]).json == []
    assert client.get(f"/api/v1/approvals/{second['request_id']}", headers=people["rep_h"]).json["status"] == \
        "terminated"
    assert to_order(client, people, big).status_code == 201


def test_internal_rejection_and_withdrawal(client, ctx, people):
    approvals.create_policy(ctx, policy())
    quote_id = new_quote(client, people, "30")
    submit(client, people, quote_id)
    request_id = client.get("/api/v1/approvals/inbox", headers=people["boss_h"]).json[0]["request_id"]
    r = client.post(f"/api/v1/approvals/{request_id}/reject", json={"comment": "30% is too much"}, headers=people["boss_h"])
    assert r.status_code == 200
    quote = client.get(f"/api/v1/sales/quotes/{quote_id}", headers=people["rep_h"]).json
    assert quote["status"] == "rejected" and "30% is too much" in quote["decision_note"]
    # the rep edits the rejected quote (back to draft), submits again, then withdraws
    assert client.patch(f"/api/v1/sales/quotes/{quote_id}", json={"notes": "second try"},
                        headers=people["rep_h"]).status_code == 200
    submit(client, people, quote_id)
    second = client.get("/api/v1/approvals?status=pending", headers=people["rep_h"]).json["items"][0]["id"]
    r = client.post(f"/api/v1/approvals/{second}/withdraw", json={"comment": "customer paused"}, headers=people["rep_h"])
    assert r.status_code == 200 and r.json["status"] == "withdrawn"
    assert client.get(f"/api/v1/sales/quotes/{quote_id}", headers=people["rep_h"]).json["status"] == "draft"


# ---------------------------------------------------------------------------------------------
# the webhook provider, against a real HTTP OA
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def oa(served):
    server = WebhookOA(SECRET, callback_url=f"{served}/oa/webhook/callback").start()
    yield server
    server.stop()


@pytest.fixture
def webhook_policy(ctx, oa):
    oa_settings.save_provider_settings(ctx, "webhook", {"base_url": oa.url, "replay_window": 300}, {"secret": SECRET})
    return approvals.create_policy(ctx, policy("webhook", compensation="sales.quote.back_to_draft"))


def run_job(rt: Any, sessions: Any, name: str) -> None:
    job_ctx = rt.context(source="scheduler", session=sessions())
    assert jobs.run_job(job_ctx, name).last_status == "ok", name


def request_of(sessions: Any, quote_id: int) -> ApprovalRequest:
    return sessions().query(ApprovalRequest).filter_by(entity="quote", entity_id=quote_id).order_by(
        ApprovalRequest.id.desc()).first()


def quote_status(sessions: Any, quote_id: int) -> str:
    return sessions().get(Quote, quote_id).status


def test_webhook_quote_approval_through_signed_callbacks(client, rt, people, oa, webhook_policy, sessions):
    quote_id = new_quote(client, people, "20")
    assert submit(client, people, quote_id)["status"] == "pending_approval"
    request = request_of(sessions, quote_id)
    assert request.status == "submitting" and request.provider == "webhook"
    assert oa.approvals == {}  # nothing leaves before the transaction committed and the outbox runs

    run_job(rt, sessions, "outbox.deliver")
    (approval_id, item), = oa.approvals.items()
    assert item["submission"]["idempotency_key"] == request.idempotency_key
    assert item["submission"]["form"] == {"quote_no": sessions().get(Quote, quote_id).number, "amount": "800.00",
                                          "customer": "Acme"}
    assert item["submission"]["approvers"] == {"1": ["boss"]} and item["submission"]["requester"] == "rep"
    assert request_of(sessions, quote_id).status == "pending"
    assert request_of(sessions, quote_id).external_id == approval_id

    # approving inside the CRM is refused: this approval runs in the OA
    request_id = request.id
    assert client.post(f"/api/v1/approvals/{request_id}/approve", json={}, headers=people["boss_h"]).status_code == 409

    # a badly signed callback and one with an old timestamp are refused and stored nowhere
    bad = oa.callback(approval_id, "approved", secret="not-the-secret")
    assert bad.status_code == 401 and bad.json() == {"error": "bad signature"}
    old = oa.callback(approval_id, "approved", timestamp=int(time.time()) - 3600)
    assert old.status_code == 401 and "replay window" in old.json()["error"]
    assert sessions().query(OACallback).count() == 0

    # the manager approves in the OA; its callback is acknowledged at once, processed by the inbox job
    ack = oa.decide(approval_id, "approved", approver="boss", comment="fine by me")
    assert ack.status_code == 200 and ack.json() == {"ok": True}
    assert quote_status(sessions, quote_id) == "pending_approval"
    run_job(rt, sessions, "approvals.inbox")
    assert quote_status(sessions, quote_id) == "approved"
    stored = request_of(sessions, quote_id)
    assert stored.status == "approved"
    assert [(d.decision, d.actor_label, d.source) for d in stored.decisions][-1] == ("approved", "boss", "oa:webhook")
    assert to_order(client, people, quote_id).status_code == 201

    # a duplicate (new nonce, same event), a byte-for-byte replay and a late "pending" change nothing
    dup = oa.callback(approval_id, "approved")
    assert dup.status_code == 200
    replay = oa.resend(oa.sent[-1])
    assert replay.status_code == 401 and replay.json() == {"error": "replayed nonce"}
    late = oa.callback(approval_id, "pending")
    assert late.status_code == 200
    run_job(rt, sessions, "approvals.inbox")
    inbox_rows = sessions().query(OACallback).order_by(OACallback.id).all()
    assert [(c.event_type, c.payload["status"], c.status) for c in inbox_rows] == [
        ("approval.status", "approved", "processed"), ("approval.status", "pending", "ignored")]
    assert quote_status(sessions, quote_id) == "ordered"
    assert len(request_of(sessions, quote_id).decisions) == len(stored.decisions)


def test_webhook_revoked_after_approval_runs_the_compensation(client, rt, people, oa, webhook_policy, sessions):
    quote_id = new_quote(client, people, "25")
    submit(client, people, quote_id)
    run_job(rt, sessions, "outbox.deliver")
    (approval_id,) = oa.approvals
    oa.decide(approval_id, "approved")
    run_job(rt, sessions, "approvals.inbox")
    assert quote_status(sessions, quote_id) == "approved"
    oa.decide(approval_id, "revoked", comment="approved by mistake")
    run_job(rt, sessions, "approvals.inbox")
    assert request_of(sessions, quote_id).status == "revoked"
    assert quote_status(sessions, quote_id) == "draft"


def test_lost_callback_is_found_by_the_reconciler(client, rt, people, oa, webhook_policy, sessions):
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    run_job(rt, sessions, "outbox.deliver")
    (approval_id,) = oa.approvals
    oa.drop_callbacks = True
    oa.decide(approval_id, "rejected", comment="no")
    assert quote_status(sessions, quote_id) == "pending_approval"
    job_ctx = rt.context(source="scheduler", session=sessions())
    assert oa_delivery.reconcile(job_ctx)["checked"] == 0  # not pending long enough yet
    assert oa_delivery.reconcile(job_ctx, older_than=0) == {"checked": 1, "changed": 1, "failed": 0}
    assert quote_status(sessions, quote_id) == "rejected"
    assert request_of(sessions, quote_id).decisions[-1].comment == "no"


def test_unknown_submit_outcome_is_resolved_by_the_idempotency_key(client, rt, people, oa, webhook_policy, sessions):
    oa.fail_next_create_after_storing = True
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    job_ctx = rt.context(source="scheduler", session=sessions())
    from crmcore.services.outbox import deliver_due
    import datetime as dt
    from crmcore.db import utcnow

    assert deliver_due(job_ctx)["retry"] == 1  # the OA stored it but answered 502
    assert request_of(sessions, quote_id).status == "submitting"
    assert deliver_due(job_ctx, now=utcnow() + dt.timedelta(minutes=5))["delivered"] == 1
    assert len(oa.approvals) == 1  # found by its key, not created twice
    assert ("GET", f"/approvals?idempotency_key={request_of(sessions, quote_id).idempotency_key}") in oa.requests
    assert request_of(sessions, quote_id).status == "pending"
    assert sessions().query(OutboxMessage).filter_by(topic="approval.submit").one().status == "delivered"


def test_withdraw_cancels_at_the_oa(client, rt, people, oa, webhook_policy, sessions):
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    run_job(rt, sessions, "outbox.deliver")
    (approval_id,) = oa.approvals
    request_id = request_of(sessions, quote_id).id
    r = client.post(f"/api/v1/approvals/{request_id}/withdraw", json={}, headers=people["rep_h"])
    assert r.status_code == 200 and r.json["status"] == "withdrawn"
    assert quote_status(sessions, quote_id) == "draft"
    run_job(rt, sessions, "outbox.deliver")
    assert oa.approvals[approval_id]["status"] == "withdrawn"
    # the OA's late "approved" for the withdrawn approval changes nothing
    oa.approvals[approval_id]["status"] = "approved"
    oa.callback(approval_id, "approved")
    run_job(rt, sessions, "approvals.inbox")
    assert request_of(sessions, quote_id).status == "withdrawn" and quote_status(sessions, quote_id) == "draft"


def test_callbacks_are_processed_right_after_the_acknowledgement(make_app, people, sessions):
    """With inline processing on (the default), the reply goes first and the state follows."""
    from werkzeug.serving import make_server
    import threading

    app = make_app(PLUGINS=["plugins.sales", "adapters.oa"], OA_PROCESS_INLINE=True)
    rt = app.extensions["crm"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    oa = WebhookOA(SECRET, callback_url=f"http://127.0.0.1:{server.server_port}/oa/webhook/callback").start()
    try:
        ctx = rt.context()
        oa_settings.save_provider_settings(ctx, "webhook", {"base_url": oa.url}, {"secret": SECRET})
        approvals.create_policy(ctx, policy("webhook"))
        client = app.test_client()
        quote_id = new_quote(client, people, "20")
        submit(client, people, quote_id)
        jobs.run_job(rt.context(source="scheduler", session=sessions()), "outbox.deliver")
        (approval_id,) = oa.approvals
        assert oa.decide(approval_id, "approved").status_code == 200
        deadline = time.monotonic() + 20  # a wait for the server thread, not a timing assertion
        while quote_status(sessions, quote_id) != "approved" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert quote_status(sessions, quote_id) == "approved"
        ctx.session.close()
    finally:
        oa.stop()
        server.shutdown()
        server.server_close()


def test_callback_endpoint_refuses_unknown_providers_and_unsigned_posts(client, ctx):
    assert client.post("/oa/nope/callback", json={}).status_code == 404
    assert client.post("/oa/internal/callback", json={}).status_code == 404  # nothing calls the embedded engine back
    assert client.post("/oa/webhook/callback", json={}).status_code == 404  # loaded, but not configured
    oa_settings.save_provider_settings(ctx, "webhook", {"base_url": "http://127.0.0.1:9"}, {"secret": SECRET})
    assert client.get("/oa/webhook/callback").status_code == 405
    r = client.post("/oa/webhook/callback", json={"approval_id": "AP-1", "status": "approved"})
    assert r.status_code == 401 and r.json == {"error": "missing signature headers"}
    assert ctx.session.query(OACallback).count() == 0


def test_a_running_approval_cannot_be_bypassed_and_a_cancelled_quote_ends_it(client, ctx, people, sessions):
    approvals.create_policy(ctx, policy())
    quote_id = new_quote(client, people, "20")
    submit(client, people, quote_id)
    assert len(client.get("/api/v1/approvals/inbox", headers=people["boss_h"]).json) == 1
    # the sales plugin's own approve/reject endpoints may not skip the policy's tiers
    r = client.post(f"/api/v1/sales/quotes/{quote_id}/approve", json={"note": "direct"}, headers=people["boss_h"])
    assert r.status_code == 409 and "approvals inbox" in r.json["message"]
    r = client.post(f"/api/v1/sales/quotes/{quote_id}/reject", json={"note": "direct"}, headers=people["boss_h"])
    assert r.status_code == 409
    assert quote_status(sessions, quote_id) == "pending_approval"
    assert len(client.get("/api/v1/approvals/inbox", headers=people["boss_h"]).json) == 1
    # the rep cancels the quote: the approval ends, no stale task remains in the inbox
    r = client.post(f"/api/v1/sales/quotes/{quote_id}/status", json={"action": "cancel"}, headers=people["rep_h"])
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert client.get("/api/v1/approvals/inbox", headers=people["boss_h"]).json == []
    request = sessions().query(ApprovalRequest).filter_by(entity="quote", entity_id=quote_id).one()
    assert request.status == "terminated"
    assert [d.decision for d in request.decisions][-1] == "decided_elsewhere"
