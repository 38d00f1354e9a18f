"""Opportunities and stages: the API (auth, 422, 404, record rules, ETags), stage moves with the
time spent in each stage, stages as admin-editable data, the board, and cross-sell suggestions."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from crmcore import hookimpl
from crmcore.models import AuditLog
from plugins.sales.contracts import Suggestion
from plugins.sales.services import catalog, opportunities, stages

UTC = dt.timezone.utc


def t(day: str, hour: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), UTC)


def test_api_requires_a_token_and_lists_paths(client, admin_headers):
    assert client.get("/api/v1/sales/opportunities").status_code == 401
    spec = client.get("/api/openapi.json", headers=admin_headers).json
    for path in ("/api/v1/sales/leads", "/api/v1/sales/leads/{lead_id}/qualify", "/api/v1/sales/opportunities",
                 "/api/v1/sales/opportunities/{opportunity_id}/move", "/api/v1/sales/opportunities/board",
                 "/api/v1/sales/opportunities/{opportunity_id}/stage-history", "/api/v1/sales/stages",
                 "/api/v1/sales/products", "/api/v1/sales/quotes", "/api/v1/sales/quotes/{quote_id}/approve",
                 "/api/v1/sales/orders", "/api/v1/sales/invoices", "/api/v1/sales/activities", "/api/v1/sales/kpis",
                 "/api/v1/sales/metrics", "/api/v1/sales/targets", "/api/v1/sales/customers/{customer_id}/summary"):
        assert path in spec["paths"], path


def test_create_move_and_record_rules(client, make_user, make_customer):
    rep_a, ha = make_user("sales", team="East")
    rep_b, hb = make_user("sales", team="East")
    _, hm = make_user("manager", team="East")
    _, hw = make_user("manager", team="West")
    _, hn = make_user("analyst")
    cust = make_customer("Acme", rep_a)
    other = make_customer("Other", rep_b)

    r = client.post("/api/v1/sales/opportunities", json={"name": "Deal", "customer_id": cust.id, "amount": "1200.50",
                                                         "expected_close_date": "2026-05-31"}, headers=ha)
    assert r.status_code == 201, r.json
    opp = r.json
    assert opp["stage"] == "Visit" and opp["probability"] == 10 and opp["owner_id"] == rep_a.id
    assert opp["amount"] == "1200.50" and opp["currency"] == "CNY" and opp["status"] == "open"

    # validation: 422 with field messages; unknown records: 404
    r = client.post("/api/v1/sales/opportunities", json={"customer_id": cust.id, "probability": 140}, headers=ha)
    assert r.status_code == 422 and {"name", "probability"} <= set(r.json["errors"])
    r = client.post("/api/v1/sales/opportunities", json={"name": "X", "customer_id": cust.id, "amount": "-1"}, headers=ha)
    assert r.status_code == 422 and "amount" in r.json["errors"]
    assert client.get("/api/v1/sales/opportunities/999999", headers=ha).status_code == 404
    assert client.post("/api/v1/sales/opportunities", json={"name": "X", "customer_id": 999999},
                       headers=ha).status_code == 422  # a body naming no customer: bad input

    # record rules: a rep sees only their own; cannot open an opportunity on someone else's customer
    assert client.get(f"/api/v1/sales/opportunities/{opp['id']}", headers=hb).status_code == 403
    assert client.post("/api/v1/sales/opportunities", json={"name": "Y", "customer_id": other.id},
                       headers=ha).status_code == 403
    assert client.get("/api/v1/sales/opportunities", headers=hb).json["total"] == 0
    assert client.get("/api/v1/sales/opportunities", headers=hm).json["total"] == 1  # the team's manager
    assert client.get("/api/v1/sales/opportunities", headers=hw).json["total"] == 0  # another team's
    assert client.get(f"/api/v1/sales/opportunities/{opp['id']}", headers=hn).status_code == 200  # analyst: all
    r = client.patch(f"/api/v1/sales/opportunities/{opp['id']}", json={"name": "mine"}, headers=hn)
    assert r.status_code == 403  # analyst reads only
    r = client.patch(f"/api/v1/sales/opportunities/{opp['id']}", json={"owner_id": rep_b.id}, headers=ha)
    assert r.status_code == 403  # a rep cannot give it away

    # optimistic locking: a stale If-Match is 412
    r = client.get(f"/api/v1/sales/opportunities/{opp['id']}", headers=ha)
    etag = r.headers["ETag"]
    r = client.patch(f"/api/v1/sales/opportunities/{opp['id']}", json={"competitor": "Rival"},
                     headers={**ha, "If-Match": etag})
    assert r.status_code == 200 and r.json["competitor"] == "Rival"
    r = client.patch(f"/api/v1/sales/opportunities/{opp['id']}", json={"competitor": "Other"},
                     headers={**ha, "If-Match": etag})
    assert r.status_code == 412

    stage_ids = {s["name"]: s["id"] for s in client.get("/api/v1/sales/stages", headers=ha).json}
    r = client.post(f"/api/v1/sales/opportunities/{opp['id']}/move", json={"stage_id": stage_ids["Proposal"]}, headers=ha)
    assert r.status_code == 200 and r.json["stage"] == "Proposal" and r.json["probability"] == 30
    # lost needs a reason
    r = client.post(f"/api/v1/sales/opportunities/{opp['id']}/move", json={"stage_id": stage_ids["Lost"]}, headers=ha)
    assert r.status_code == 422 and "lost_reason" in r.json["errors"]
    r = client.post(f"/api/v1/sales/opportunities/{opp['id']}/move",
                    json={"stage_id": stage_ids["Lost"], "lost_reason": "price", "competitor": "Rival"}, headers=ha)
    assert r.status_code == 200 and r.json["status"] == "lost" and r.json["probability"] == 0
    assert r.json["closed_at"] is not None
    # stages are admin data: a rep cannot add one
    assert client.post("/api/v1/sales/stages", json={"name": "Demo"}, headers=ha).status_code == 403


def test_stage_history_records_time_in_each_stage(ctx, make_user, make_customer):
    rep_user, _ = make_user("sales")
    cust = make_customer("Acme", rep_user)
    s = {st.name: st for st in stages.list_stages(ctx)}
    opp = opportunities.create_opportunity(ctx, {"name": "Deal", "customer_id": cust.id, "owner_id": rep_user.id},
                                           at=t("2026-03-01"))
    opportunities.move_stage(ctx, opp.id, s["Proposal"].id, at=t("2026-03-03"))  # 2 days in Visit
    opportunities.move_stage(ctx, opp.id, s["Visit"].id, at=t("2026-03-03", 6))  # 6 hours in Proposal
    opportunities.move_stage(ctx, opp.id, s["Proposal"].id, at=t("2026-03-04", 6))  # 1 more day in Visit
    opportunities.move_stage(ctx, opp.id, s["Won"].id, at=t("2026-03-10", 6))  # 6 more days in Proposal

    history = opportunities.stage_history(ctx, opp.id, now=t("2026-03-12", 6))
    assert [(x["stage"], x["seconds"]) for x in history["stays"]] == [
        ("Visit", 2 * 86400), ("Proposal", 6 * 3600), ("Visit", 86400), ("Proposal", 6 * 86400),
        ("Won", 2 * 86400)]  # the current stay counts up to now
    assert [(x["stage"], x["seconds"]) for x in history["per_stage"]] == [
        ("Visit", 3 * 86400), ("Proposal", 6 * 86400 + 6 * 3600), ("Won", 2 * 86400)]
    opp = opportunities.get_opportunity(ctx, opp.id)
    assert opp.status == "won" and opp.cycle_seconds == 9 * 86400 + 6 * 3600
    assert cust.stage == "customer"  # a won deal makes the lead a customer
    events = ctx.session.scalars(select(AuditLog.action).where(AuditLog.entity == "opportunity")).all()
    assert events.count("updated") == 4
    # reopening a won deal clears its close
    opportunities.move_stage(ctx, opp.id, s["Contract"].id, at=t("2026-03-13"))
    assert (opp.status, opp.closed_at, opp.cycle_seconds, opp.probability) == ("open", None, None, 80)


def test_a_move_before_the_current_stay_is_refused(ctx, make_user, make_customer):
    rep_user, _ = make_user("sales")
    cust = make_customer("Acme", rep_user)
    s = {st.name: st for st in stages.list_stages(ctx)}
    opp = opportunities.create_opportunity(ctx, {"name": "Deal", "customer_id": cust.id}, at=t("2026-03-05"))
    try:
        opportunities.move_stage(ctx, opp.id, s["Proposal"].id, at=t("2026-03-01"))
    except Exception as exc:  # noqa: BLE001
        assert "earlier" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected a validation error")


def test_stages_are_editable_data(client, admin_headers, make_user, make_customer):
    r = client.post("/api/v1/sales/stages", json={"name": "Demo", "sequence": 15, "probability": 20},
                    headers=admin_headers)
    assert r.status_code == 201, r.json
    demo = r.json["id"]
    names = [s["name"] for s in client.get("/api/v1/sales/stages", headers=admin_headers).json]
    assert names == ["Visit", "Demo", "Proposal", "Negotiation", "Contract", "Won", "Lost"]
    assert client.post("/api/v1/sales/stages", json={"name": "Demo"}, headers=admin_headers).status_code == 422
    r = client.post("/api/v1/sales/stages", json={"name": "Odd", "is_won": True, "is_lost": True}, headers=admin_headers)
    assert r.status_code == 422 and "is_lost" in r.json["errors"]
    assert client.patch(f"/api/v1/sales/stages/{demo}", json={"probability": 25},
                        headers=admin_headers).json["probability"] == 25
    # a stage that was used cannot be deleted, only deactivated; unused ones can
    rep_user, h = make_user("sales")
    cust = make_customer("Acme", rep_user)
    client.post("/api/v1/sales/opportunities", json={"name": "D", "customer_id": cust.id, "stage_id": demo}, headers=h)
    assert client.delete(f"/api/v1/sales/stages/{demo}", headers=admin_headers).status_code == 409
    assert client.patch(f"/api/v1/sales/stages/{demo}", json={"is_won": True}, headers=admin_headers).status_code == 409
    assert client.patch(f"/api/v1/sales/stages/{demo}", json={"active": False}, headers=admin_headers).status_code == 200
    assert "Demo" not in [s["name"] for s in client.get("/api/v1/sales/stages", headers=h).json]
    spare = client.post("/api/v1/sales/stages", json={"name": "Spare"}, headers=admin_headers).json["id"]
    assert client.delete(f"/api/v1/sales/stages/{spare}", headers=admin_headers).status_code == 204


def test_board_groups_visible_opportunities_by_stage(client, make_user, make_customer):
    rep_a, ha = make_user("sales")
    rep_b, hb = make_user("sales")
    ca, cb = make_customer("A", rep_a), make_customer("B", rep_b)
    for amount, currency in (("100", "CNY"), ("200", "CNY"), ("10", "USD")):
        client.post("/api/v1/sales/opportunities", json={"name": "x", "customer_id": ca.id, "amount": amount,
                                                         "currency": currency}, headers=ha)
    client.post("/api/v1/sales/opportunities", json={"name": "y", "customer_id": cb.id, "amount": "5"}, headers=hb)
    board = client.get("/api/v1/sales/opportunities/board", headers=ha).json
    visit = board[0]
    assert visit["stage"]["name"] == "Visit" and visit["count"] == 3
    assert visit["totals"] == {"CNY": "300.00", "USD": "10.00"}
    assert len(visit["opportunities"]) == 3 and all(b["count"] == 0 for b in board[1:])


def test_cross_sell_suggestions_hook(rt, client, ctx, make_user, make_customer):
    rep_user, h = make_user("sales")
    cust = make_customer("Acme", rep_user)
    p1 = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "999"})
    p2 = catalog.create_product(ctx, {"code": "P2", "name": "Toner", "list_price": "99"})
    p3 = catalog.create_product(ctx, {"code": "P3", "name": "Old", "list_price": "1", "active": False})
    opp = opportunities.create_opportunity(ctx, {"name": "Deal", "customer_id": cust.id, "owner_id": rep_user.id})
    seen = []

    class Analysis:
        @hookimpl
        def crm_sales_cross_sell(self, ctx: Any, customer: Any, opportunity: Any) -> list[Suggestion]:
            seen.append((customer.id, opportunity.id if opportunity else None))
            return [Suggestion(p2.id, 0.6, ["bought together with printers"]), Suggestion(p3.id, 0.9, ["old"]),
                    Suggestion(p1.id, 0.3, ["basket analysis"])]

    class Service:
        @hookimpl
        def crm_sales_cross_sell(self, customer: Any) -> list[Suggestion]:
            return [Suggestion(p1.id, 0.8, ["printer broke twice"], source="service")]

    plugins = [Analysis(), Service()]
    for i, p in enumerate(plugins):
        rt.pm.register(p, name=f"suggest{i}")
    try:
        r = client.get(f"/api/v1/sales/opportunities/{opp.id}/suggestions", headers=h)
        assert r.status_code == 200
        assert [(s["code"], s["score"], s["source"]) for s in r.json] == [("P1", 0.8, "service"), ("P2", 0.6, "suggest0")]
        assert sorted(r.json[0]["reasons"]) == ["basket analysis", "printer broke twice"]
        r = client.get(f"/api/v1/sales/customers/{cust.id}/suggestions", headers=h)
        assert [s["code"] for s in r.json] == ["P1", "P2"]
        assert seen == [(cust.id, opp.id), (cust.id, None)]
        panels = client.get(f"/api/v1/customers/{cust.id}/panels", headers=h).json
        keys = [p["key"] for p in panels]
        assert {"sales_pipeline", "sales_orders", "sales_activities", "sales_suggestions"} <= set(keys)
    finally:
        for p in plugins:
            rt.pm.unregister(p)
