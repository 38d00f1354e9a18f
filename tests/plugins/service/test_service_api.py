"""The REST API under /api/v1/service: tokens, permissions, record rules, ETags, transitions,
configuration, field work and reports; every route in the OpenAPI document."""
from __future__ import annotations


from plugins.service.services import tickets


def test_every_route_needs_a_token_and_is_documented(client, app, admin_headers):
    routes = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/service")]
    assert len(routes) >= 20
    for rule in routes:
        url = rule.rule.replace("<int:ticket_id>", "1").replace("<int:visit_id>", "1") \
            .replace("<int:followup_id>", "1").replace("<int:record_id>", "1").replace("<int:calendar_id>", "1")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert client.open(url, method=method).status_code == 401, (method, url)
    spec = client.get("/api/openapi.json", headers=admin_headers).json
    assert "/api/v1/service/tickets/{ticket_id}/transitions" in spec["paths"]


def test_ticket_lifecycle_over_http(client, make_user, admin_headers):
    agent, headers = make_user("service")
    bad = client.post("/api/v1/service/tickets", json={"subject": "x", "requester_email": "nope", "state": "closed"},
                      headers=headers)
    assert bad.status_code == 422 and set(bad.json["errors"]) == {"requester_email", "state"}
    res = client.post("/api/v1/service/tickets", json={"subject": "Printer", "priority": "high"}, headers=headers)
    assert res.status_code == 201, res.json
    ticket = res.json
    assert ticket["number"].startswith("SR-") and ticket["state"] == "new" and res.headers["ETag"]
    tid = ticket["id"]
    assert client.get(f"/api/v1/service/tickets/{tid}/transitions", headers=headers).json["state"] == "new"
    res = client.post(f"/api/v1/service/tickets/{tid}/transitions", json={"state": "closed_forever"}, headers=headers)
    assert res.status_code == 422
    res = client.post(f"/api/v1/service/tickets/{tid}/messages", json={"body": "On it"}, headers=headers)
    assert res.status_code == 201 and res.json["author"] == "agent"
    got = client.get(f"/api/v1/service/tickets/{tid}", headers=headers)
    assert got.json["first_responded_at"] and got.json["assignee_id"] == agent.id
    # optimistic locking: a stale If-Match is refused
    etag = got.headers["ETag"]
    assert client.patch(f"/api/v1/service/tickets/{tid}", json={"priority": "urgent"},
                        headers={**headers, "If-Match": etag}).status_code == 200
    assert client.patch(f"/api/v1/service/tickets/{tid}", json={"priority": "low"},
                        headers={**headers, "If-Match": etag}).status_code == 412
    res = client.post(f"/api/v1/service/tickets/{tid}/transitions", json={"state": "resolved", "note": "fixed"},
                      headers=headers)
    assert res.status_code == 200 and res.json["state"] == "resolved" and res.json["sla"]["target"] is None
    items = client.get("/api/v1/service/tickets?open=true", headers=headers).json
    assert items["total"] == 0
    link = client.post(f"/api/v1/service/tickets/{tid}/link", headers=headers).json
    assert "/service/portal/t/" in link["url"] and client.get(link["url"]).status_code == 200
    # an agent may not delete; a manager outside the ticket's team does not even see it; an admin may
    assert client.delete(f"/api/v1/service/tickets/{tid}", headers=headers).status_code == 403
    assert client.delete(f"/api/v1/service/tickets/{tid}", headers=make_user("manager")[1]).status_code == 404
    assert client.delete(f"/api/v1/service/tickets/{tid}", headers=admin_headers).status_code == 204
    assert client.get(f"/api/v1/service/tickets/{tid}", headers=headers).status_code == 404
    assert client.get(link["url"]).status_code == 404


def test_record_rules_over_http(client, make_user, ctx, make_customer):
    rep_a, ha = make_user("sales")
    rep_b, hb = make_user("sales")
    t = tickets.create_ticket(ctx, {"subject": "A's", "customer_id": make_customer("A", rep_a).id})
    assert client.get(f"/api/v1/service/tickets/{t.id}", headers=ha).status_code == 200
    assert client.get(f"/api/v1/service/tickets/{t.id}", headers=hb).status_code == 404
    assert client.get("/api/v1/service/tickets", headers=hb).json["total"] == 0
    assert client.post(f"/api/v1/service/tickets/{t.id}/messages", json={"body": "x"}, headers=hb).status_code == 404
    _, analyst = make_user("analyst")
    assert client.post("/api/v1/service/tickets", json={"subject": "x"}, headers=analyst).status_code == 403


def test_configuration_field_work_and_reports(client, make_user, ctx, make_customer):
    boss, manager = make_user("manager")
    tech, tech_headers = make_user("service")
    res = client.post("/api/v1/service/calendars", headers=manager, json={
        "name": "Shanghai", "timezone": "Asia/Shanghai", "weekly": {str(d): [["09:00", "18:00"]] for d in range(1, 6)},
        "days": [{"day": "2026-10-01", "kind": "holiday"}, {"day": "2026-10-10", "kind": "workday"}]})
    assert res.status_code == 201 and len(res.json["days"]) == 2
    bad = client.post("/api/v1/service/calendars", headers=manager, json={"name": "Bad", "timezone": "Nowhere/City"})
    assert bad.status_code == 422
    res = client.post("/api/v1/service/sla-policies", headers=manager, json={
        "name": "High", "priority": "high", "first_response_minutes": 60, "resolution_minutes": 480,
        "calendar_id": res.json["id"]})
    assert res.status_code == 201
    assert client.post("/api/v1/service/sla-policies", headers=tech_headers, json={
        "name": "x", "priority": "low", "first_response_minutes": 1, "resolution_minutes": 2}).status_code == 403
    assert client.post("/api/v1/service/categories", headers=manager, json={"name": "Repair", "kind": "incident"}
                       ).status_code == 201
    assert client.post("/api/v1/service/assignment-rules", headers=manager, json={
        "name": "All", "strategy": "round_robin", "member_ids": [tech.id]}).status_code == 201
    customer = make_customer("Home", boss)  # in the manager's scope (an NPS survey checks it)
    t = client.post("/api/v1/service/tickets", headers=tech_headers, json={
        "subject": "Leak", "priority": "high", "customer_id": customer.id}).json
    assert t["assignee_id"] == tech.id and t["sla_policy_id"] and t["sla"]["target"] == "first_response"
    visit = client.post(f"/api/v1/service/tickets/{t['id']}/visits", headers=tech_headers, json={
        "technician_id": tech.id, "window_start": "2026-03-02T09:00:00+08:00",
        "window_end": "2026-03-02T11:00:00+08:00", "address": "Room 1"})
    assert visit.status_code == 201, visit.json
    day = client.get(f"/api/v1/service/visits/day?technician_id={tech.id}&day=2026-03-02", headers=tech_headers)
    assert [v["id"] for v in day.json] == [visit.json["id"]]
    rep = client.post(f"/api/v1/service/visits/{visit.json['id']}/report", headers=tech_headers, json={
        "outcome": "Fixed", "parts_used": [{"part": "SEAL", "quantity": "2"}]})
    assert rep.status_code == 200 and rep.json["parts_used"][0]["quantity"] == "2"
    q = client.post("/api/v1/service/quality", headers=tech_headers, json={
        "product_code": "TAP-1", "description": "Seal worn", "ticket_id": t["id"]})
    assert q.status_code == 201 and q.json["customer_id"] == customer.id
    window = "start=2020-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"
    assert client.get(f"/api/v1/service/reports/defect-rates?{window}", headers=tech_headers).status_code == 403
    rates = client.get(f"/api/v1/service/reports/defect-rates?{window}", headers=manager).json
    assert rates[0]["product_code"] == "TAP-1" and rates[0]["defect_rate"] is None
    assert client.post("/api/v1/service/deliveries", headers=manager, json={
        "order_number": "SO-1", "promised_dispatch_at": "2026-03-02T10:00:00+08:00",
        "dispatched_at": "2026-03-02T09:00:00+08:00"}).status_code == 200
    kpis = client.get(f"/api/v1/service/reports/logistics?{window}", headers=manager).json
    assert kpis["on_time_dispatch"]["value"] == 1.0
    nps = client.post("/api/v1/service/surveys/nps", headers=manager, json={"customer_id": customer.id})
    assert nps.status_code == 201 and client.get(nps.json["url"]).status_code == 200
    sat = client.get(f"/api/v1/service/reports/satisfaction?{window}&kind=nps&by=all", headers=manager)
    assert sat.status_code == 200 and sat.json == {"items": []}
    sla_report = client.get(f"/api/v1/service/reports/sla?{window}&by=all", headers=manager)
    assert sla_report.status_code == 200 and sla_report.json == {"items": []}  # nothing resolved yet
    check = client.post("/api/v1/service/sla-check", headers=manager)
    assert check.status_code == 200 and check.json["breaches"] == []
    assert client.post("/api/v1/service/sla-check", headers=tech_headers).status_code == 403
