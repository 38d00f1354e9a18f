"""Quotes: totals with per-line and overall discounts, price lists, the discount-approval states and
events a workflow can hook into, quote -> order; orders, invoices and payments as the ERP fills them;
activities on the core timeline."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from crmcore import hookimpl
from plugins.sales.services import catalog

D = Decimal


class Listener:
    """Collects the sales quote and order events a workflow would react to."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def crm_event(self, event: Any) -> None:
        if event.name.startswith(("sales.quote", "sales.order")):
            self.events.append(event)


@pytest.fixture
def catalogue(ctx):
    p1 = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100"})
    p2 = catalog.create_product(ctx, {"code": "P2", "name": "Toner", "list_price": "40"})
    dealers = catalog.save_price_list(ctx, {"name": "Dealers", "items": [{"product_id": p1.id, "price": "90"}]})
    return p1, p2, dealers


def quote_body(customer_id: int, p1: Any, p2: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "discount_percent": "2", "lines": [
        {"product_id": p1.id, "quantity": "3", "discount_percent": "10"},  # 3 x 100 x 0.9 = 270.00
        {"product_id": p2.id, "quantity": "2.5", "unit_price": "36"},  # 90.00; list 100.00
        {"description": "Installation", "unit_price": "50", "discount_percent": "5"},  # 47.50
    ]}


def test_quote_totals_with_line_and_overall_discounts(client, make_user, make_customer, catalogue):
    p1, p2, dealers = catalogue
    rep, h = make_user("sales")
    cust = make_customer("Acme", rep)
    r = client.post("/api/v1/sales/quotes", json=quote_body(cust.id, p1, p2), headers=h)
    assert r.status_code == 201, r.json
    q = r.json
    assert [ln["line_total"] for ln in q["lines"]] == ["270.00", "90.00", "47.50"]
    assert [ln["list_price"] for ln in q["lines"]] == ["100.00", "40.00", "50.00"]
    assert q["list_total"] == "450.00" and q["subtotal"] == "407.50"
    assert q["discount_total"] == "8.15" and q["total"] == "399.35"  # 2 % of 407.50
    assert q["effective_discount_percent"] == "11.26"  # 1 - 399.35 / 450
    assert q["max_line_discount_percent"] == "10.00"  # the 10 % line and the price cut to 36 of 40
    assert q["status"] == "draft" and q["number"].startswith("Q")

    r = client.post("/api/v1/sales/quotes", json={"customer_id": cust.id, "price_list_id": dealers.id,
                                                  "lines": [{"product_id": p1.id}, {"product_id": p2.id}]}, headers=h)
    assert r.status_code == 201 and [ln["list_price"] for ln in r.json["lines"]] == ["90.00", "40.00"]
    assert r.json["total"] == "130.00"

    bad = {"customer_id": cust.id, "lines": [{"product_id": 99999}, {"description": "x"},
                                             {"product_id": p1.id, "discount_percent": "120"}]}
    r = client.post("/api/v1/sales/quotes", json=bad, headers=h)
    assert r.status_code == 422
    r = client.post("/api/v1/sales/quotes", json={"customer_id": cust.id, "currency": "USD",
                                                  "lines": [{"product_id": p1.id}]}, headers=h)
    assert r.status_code == 422 and "lines.0" in r.json["errors"]  # the list price is in CNY


def test_discount_above_threshold_needs_approval(make_app, make_user, make_customer, catalogue):
    listener = Listener()
    events = listener.events
    app = make_app([("listener", listener)], PLUGINS=["plugins.sales"], SALES_DISCOUNT_APPROVAL_THRESHOLD="10")
    client = app.test_client()
    p1, p2, _ = catalogue
    rep, h = make_user("sales", team="East")
    _, hm = make_user("manager", team="East")
    cust = make_customer("Acme", rep)
    qid = client.post("/api/v1/sales/quotes", json=quote_body(cust.id, p1, p2), headers=h).json["id"]
    events.clear()

    r = client.post(f"/api/v1/sales/quotes/{qid}/submit", headers=h)
    assert r.status_code == 200 and r.json["status"] == "pending_approval" and r.json["requires_approval"] is True
    assert [e.name for e in events] == ["sales.quote.submitted", "sales.quote.approval_requested"]
    requested = events[1].data
    assert requested["effective_discount_percent"] == "11.26" and requested["threshold"] == "10"
    # waiting: a change submits it again (nobody approves what they did not see); it cannot be sent or ordered
    events.clear()
    r = client.patch(f"/api/v1/sales/quotes/{qid}", json={"notes": "x"}, headers=h)
    assert r.status_code == 200 and r.json["status"] == "pending_approval" and r.json["notes"] == "x"
    assert [e.name for e in events] == ["sales.quote.updated", "sales.quote.submitted",
                                        "sales.quote.approval_requested"]
    assert client.post(f"/api/v1/sales/quotes/{qid}/status", json={"action": "send"}, headers=h).status_code == 409
    r = client.post(f"/api/v1/sales/quotes/{qid}/order", json={}, headers=h)
    assert r.status_code == 409 and "approval" in r.json["message"]
    # the rep cannot approve; the manager can reject (with a reason) or approve
    assert client.post(f"/api/v1/sales/quotes/{qid}/approve", json={}, headers=h).status_code == 403
    assert client.post(f"/api/v1/sales/quotes/{qid}/reject", json={}, headers=hm).status_code == 422
    r = client.post(f"/api/v1/sales/quotes/{qid}/reject", json={"note": "too cheap"}, headers=hm)
    assert r.status_code == 200 and r.json["status"] == "rejected" and r.json["decision_note"] == "too cheap"
    # the rep lowers the discount: back to draft; 10 % is not above the threshold -> approved at once
    lines = quote_body(cust.id, p1, p2)["lines"][:1]
    r = client.patch(f"/api/v1/sales/quotes/{qid}", json={"lines": lines, "discount_percent": "0"}, headers=h)
    assert r.status_code == 200 and r.json["status"] == "draft" and r.json["total"] == "270.00"
    r = client.post(f"/api/v1/sales/quotes/{qid}/submit", headers=h)
    assert r.json["status"] == "approved" and r.json["requires_approval"] is False
    assert events[-1].name == "sales.quote.approved" and events[-1].data["automatic"] is True

    r = client.post(f"/api/v1/sales/quotes/{qid}/status", json={"action": "send"}, headers=h)
    assert r.json["status"] == "sent"
    r = client.post(f"/api/v1/sales/quotes/{qid}/order", json={"order_date": "2026-03-15"}, headers=h)
    assert r.status_code == 201, r.json
    order = r.json
    assert order["total"] == "270.00" and order["list_total"] == "300.00" and order["order_date"] == "2026-03-15"
    assert order["owner_id"] == rep.id and len(order["lines"]) == 1
    assert client.get(f"/api/v1/sales/quotes/{qid}", headers=h).json["status"] == "ordered"
    assert [e.name for e in events[-2:]] == ["sales.order.created", "sales.quote.ordered"]


def test_the_approval_decision_can_come_from_a_plugin(rt, ctx, make_user, make_customer, catalogue):
    from plugins.sales.services import quotes

    p1, p2, _ = catalogue
    rep, _ = make_user("sales", team="East")
    manager, _ = make_user("manager", team="East")
    cust = make_customer("Acme", rep)

    class Workflow:
        @hookimpl
        def crm_sales_discount_approval(self, quote: Any) -> bool:
            return quote.total > 100

    wf = Workflow()
    rt.pm.register(wf, name="workflow-test")
    try:
        q = quotes.create_quote(ctx, {**quote_body(cust.id, p1, p2), "owner_id": rep.id})
        assert quotes.submit_quote(ctx, q.id).status == "pending_approval"  # no threshold set; the plugin says so
        mctx = rt.context(actor=manager)
        assert quotes.approve_quote(mctx, q.id, "ok").status == "approved"
        assert q.decided_by_id == manager.id
    finally:
        rt.pm.unregister(wf)


def test_orders_invoices_and_payments_from_the_erp(client, ctx, make_user, make_customer, catalogue):
    p1, _, _ = catalogue
    rep, h = make_user("sales", team="East")
    other, ho = make_user("sales", team="East")
    _, hm = make_user("manager", team="East")
    _, hw = make_user("manager", team="West")
    cust = make_customer("Acme", rep)
    body = {"number": "SO-1", "customer_id": cust.id, "order_date": "2026-03-01", "source": "erp",
            "lines": [{"product_id": p1.id, "quantity": "2", "unit_price": "95", "list_price": "100"}]}
    assert client.post("/api/v1/sales/orders", json=body, headers=h).status_code == 403  # reps do not write orders
    assert client.post("/api/v1/sales/orders", json=body, headers=hw).status_code == 403  # not their team's customer
    r = client.post("/api/v1/sales/orders", json=body, headers=hm)
    assert r.status_code == 200, r.json
    order = r.json
    assert order["total"] == "190.00" and order["list_total"] == "200.00" and order["owner_id"] == rep.id
    again = client.post("/api/v1/sales/orders", json={**body, "status": "delivered"}, headers=hm).json
    assert again["id"] == order["id"] and again["status"] == "delivered"  # idempotent by number
    assert client.post("/api/v1/sales/orders", json={"number": "SO-2", "customer_id": cust.id},
                       headers=hm).status_code == 422

    inv = client.post("/api/v1/sales/invoices", json={"number": "INV-1", "customer_id": cust.id,
                                                      "order_id": order["id"], "invoice_date": "2026-03-01",
                                                      "due_date": "2026-03-31", "amount_total": "190"}, headers=hm).json
    assert inv["state"] == "open" and inv["amount_due"] == "190.00" and inv["owner_id"] == rep.id
    pay = {"paid_on": "2026-03-10", "amount": "90", "reference": "BANK-1"}
    assert client.post(f"/api/v1/sales/invoices/{inv['id']}/payments", json=pay, headers=hm).status_code == 201
    client.post(f"/api/v1/sales/invoices/{inv['id']}/payments", json=pay, headers=hm)  # a repeat: not paid twice
    inv = client.get(f"/api/v1/sales/invoices/{inv['id']}", headers=h).json
    assert inv["state"] == "partial" and inv["amount_paid"] == "90.00" and inv["amount_due"] == "100.00"
    r = client.post(f"/api/v1/sales/invoices/{inv['id']}/payments",
                    json={"paid_on": "2026-03-11", "amount": "5", "currency": "USD"}, headers=hm)
    assert r.status_code == 422 and "currency" in r.json["errors"]
    client.post(f"/api/v1/sales/invoices/{inv['id']}/payments", json={"paid_on": "2026-03-20", "amount": "100"},
                headers=hm)
    assert client.get(f"/api/v1/sales/invoices/{inv['id']}", headers=h).json["state"] == "paid"

    summary = client.get(f"/api/v1/sales/customers/{cust.id}/summary", headers=h).json
    assert summary["orders"]["CNY"]["count"] == 1 and summary["receivables"] == {}
    assert [o["number"] for o in summary["recent_orders"]] == ["SO-1"]
    # record rules: another rep sees neither the order nor the invoice
    assert client.get(f"/api/v1/sales/orders/{order['id']}", headers=ho).status_code == 403
    assert client.get("/api/v1/sales/orders", headers=ho).json["total"] == 0
    assert client.get(f"/api/v1/sales/invoices/{inv['id']}", headers=ho).status_code == 403
    assert client.get("/api/v1/sales/orders/99999", headers=h).status_code == 404


def test_activities_go_on_the_core_timeline(client, make_user, make_customer):
    rep, h = make_user("sales")
    cust = make_customer("Acme", rep)
    opp = client.post("/api/v1/sales/opportunities", json={"name": "Deal", "customer_id": cust.id}, headers=h).json
    r = client.post("/api/v1/sales/activities", json={"kind": "visit", "subject": "On-site demo",
                                                      "customer_id": cust.id, "opportunity_id": opp["id"],
                                                      "due_at": "2026-03-10T10:00:00+08:00"}, headers=h)
    assert r.status_code == 201, r.json
    visit = r.json
    assert visit["status"] == "planned" and visit["due_at"] == "2026-03-10T02:00:00+00:00"
    r = client.post(f"/api/v1/sales/activities/{visit['id']}/complete", json={}, headers=h)
    assert r.status_code == 422 and "outcome" in r.json["errors"]  # a visit needs its outcome
    r = client.post(f"/api/v1/sales/activities/{visit['id']}/complete",
                    json={"outcome": "success", "outcome_note": "ordered samples"}, headers=h)
    assert r.status_code == 200 and r.json["status"] == "done" and r.json["interaction_id"]
    timeline = client.get(f"/api/v1/customers/{cust.id}/timeline", headers=h).json
    assert timeline[0]["channel"] == "visit" and timeline[0]["entity_type"] == "sales_activity"
    assert timeline[0]["entity_id"] == str(visit["id"]) and timeline[0]["data"]["outcome"] == "success"
    assert client.post(f"/api/v1/sales/activities/{visit['id']}/complete", json={"outcome": "success"},
                       headers=h).status_code == 409
    r = client.post("/api/v1/sales/activities", json={"kind": "call", "subject": "Follow-up", "customer_id": cust.id,
                                                      "status": "done"}, headers=h)
    assert r.status_code == 201 and r.json["status"] == "done"
    assert client.get(f"/api/v1/customers/{cust.id}/timeline", headers=h).json[0]["channel"] == "phone"
    r = client.post("/api/v1/sales/activities", json={"kind": "meeting", "subject": "x", "customer_id": cust.id},
                    headers=h)
    assert r.status_code == 422
    _, ho = make_user("sales")
    assert client.get(f"/api/v1/sales/activities/{visit['id']}", headers=ho).status_code == 403
