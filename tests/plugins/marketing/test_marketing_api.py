"""/api/v1/marketing: permissions, 422 by field from the services' one validation, audiences compiled to one
query with a live preview (conditions over computed fields, static lists, exclusions), consents by scope."""
from __future__ import annotations

from typing import Any

from crmcore.services import customers
from plugins.marketing.services import audiences


def test_who_may_do_what(client: Any, make_user: Any, make_customer: Any) -> None:
    _m, manager = make_user("manager")
    rep, sales = make_user("sales")
    _a, analyst = make_user("analyst")
    body = {"name": "VIP", "condition": {"field": "level", "op": "eq", "value": "VIP"}}
    assert client.post("/api/v1/marketing/audiences", json=body).status_code == 401
    assert client.post("/api/v1/marketing/audiences", json=body, headers=sales).status_code == 403
    assert client.post("/api/v1/marketing/audiences", json=body, headers=analyst).status_code == 403
    assert client.get("/api/v1/marketing/audiences", headers=analyst).status_code == 200
    r = client.post("/api/v1/marketing/audiences", json=body, headers=manager)
    assert r.status_code == 201 and r.headers["ETag"]
    # a rep records consent for their own customers only
    mine, other = make_customer("Mine", rep), make_customer("Other")
    consent = {"channel": "email", "status": "granted", "text": "同意接收优惠信息", "source": "form"}
    assert client.post(f"/api/v1/marketing/customers/{mine.id}/consents", json=consent, headers=sales).status_code == 201
    assert client.post(f"/api/v1/marketing/customers/{other.id}/consents", json=consent,
                       headers=sales).status_code == 403
    listed = client.get(f"/api/v1/marketing/customers/{mine.id}/consents", headers=sales).json
    assert [c["status"] for c in listed] == ["granted"] and listed[0]["text"] == "同意接收优惠信息"


def test_bad_input_is_named_by_field(client: Any, make_user: Any) -> None:
    _m, manager = make_user("manager")
    r = client.post("/api/v1/marketing/audiences", json={"name": "x", "condition": {
        "field": "lavel", "op": "eq", "value": "VIP"}, "exclude": [424242]}, headers=manager)
    assert r.status_code == 422 and set(r.json["errors"]) == {"condition", "exclude"}
    assert "level" in " ".join(r.json["errors"]["condition"])  # the near name
    r = client.post("/api/v1/marketing/templates", json={"name": "t", "subject": "{{ customer.nam }}"},
                    headers=manager)
    assert r.status_code == 422 and set(r.json["errors"]) == {"subject", "text"}
    r = client.post("/api/v1/marketing/campaigns", json={"name": "c", "audience_id": 999, "template_id": 999,
                                                         "holdout_percent": 90}, headers=manager)
    assert r.status_code == 422 and set(r.json["errors"]) == {"audience_id", "template_id", "holdout_percent"}
    r = client.post("/api/v1/marketing/customers/1/consents", json={"channel": "fax", "status": "granted"},
                    headers=manager)
    assert r.status_code in (404, 422)
    assert client.post("/api/v1/marketing/audiences", data="[1]", content_type="application/json",
                       headers=manager).status_code == 422


def test_an_audience_is_one_query_over_conditions_lists_and_exclusions(client: Any, ctx: Any, make_user: Any,
                                                                      make_customer: Any) -> None:
    _m, manager = make_user("manager")
    vip = [make_customer(f"VIP {i}", level="VIP", stage="customer") for i in range(3)]
    plain = make_customer("Plain", stage="customer")
    customers.delete_customer(ctx, make_customer("Gone", level="VIP").id)  # deleted customers are never reached
    r = client.post("/api/v1/marketing/audiences/preview", json={"condition": {
        "field": "level", "op": "eq", "value": "VIP"}}, headers=manager)
    assert r.status_code == 200 and r.json["count"] == 3
    blocked = audiences.create_audience(ctx, {"name": "blocked"})
    audiences.add_members(ctx, blocked.id, [vip[0].code])
    audience = audiences.create_audience(ctx, {"name": "VIP customers", "condition": {"all": [
        {"field": "level", "op": "eq", "value": "VIP"}, {"field": "stage", "op": "eq", "value": "customer"}]},
        "exclude": [blocked.id]})
    added = audiences.add_members(ctx, audience.id, [plain.code, "NO-SUCH-CODE"])
    assert added == {"added": 1, "already": 0, "unknown": ["NO-SUCH-CODE"]}
    r = client.get(f"/api/v1/marketing/audiences/{audience.id}/preview", headers=manager)
    names = sorted(s["name"] for s in r.json["sample"])
    assert r.json["count"] == 3 and names == ["Plain", "VIP 1", "VIP 2"]
    # a loop of exclusions is refused, and an audience cannot leave out itself
    r = client.patch(f"/api/v1/marketing/audiences/{audience.id}", json={"exclude": [audience.id]}, headers=manager)
    assert r.status_code == 422 and "exclude" in r.json["errors"]
