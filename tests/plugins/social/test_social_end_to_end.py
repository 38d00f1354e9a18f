"""End to end through the API and the jobs: a follower scans the referrer's QR code (scene ``ref_<code>``, recorded
with ``record_scene`` as the channels call it), becomes a lead, is qualified, buys and pays; after the return
window the referrer and the new customer get their loyalty points, and the top advocates report shows the referrer."""
from __future__ import annotations

from typing import Any

import pytest

from crm_plugin_loyalty import models as loyalty_models  # noqa: F401 - its table in the test database


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(PLUGINS=["plugins.sales", "plugins.social", "crm_plugin_loyalty"])


def test_scan_lead_order_paid_reward_and_report(ctx: Any, client: Any, admin_headers: Any, make_customer: Any,
                                                run_job: Any) -> None:
    from crm_plugin_loyalty.services import points_of
    from plugins.social.services.referrals import record_scene

    h = admin_headers
    referrer = make_customer("老会员王女士", phone="13811110000")
    code = client.post("/api/v1/referrals/codes", json={"customer_id": referrer.id}, headers=h).get_json()["code"]
    assert client.patch("/api/v1/referrals/programme", json={"return_window_days": 0, "referrer_points": 200,
                                                             "referee_points": 80}, headers=h).status_code == 200
    # the follower scanned the QR code with scene ref_<code>: the channel makes a lead and records the referral
    lead = client.post("/api/v1/sales/leads", json={"name": "微信粉丝小陈", "wechat": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
                                                    "phone": "13922223333", "source_channel": "wechat"}, headers=h)
    assert lead.status_code == 201
    lead_id = lead.get_json()["id"]
    assert record_scene(ctx, "menu_about", lead_id=lead_id) is None  # not a referral scene
    assert record_scene(ctx, f"ref_{code}", lead_id=lead_id) is not None
    qualified = client.post(f"/api/v1/sales/leads/{lead_id}/qualify", json={"create_opportunity": False}, headers=h)
    assert qualified.status_code == 200, qualified.get_json()
    customer_id = qualified.get_json()["customer_id"]
    order = client.post("/api/v1/sales/orders", json={"number": "SO-WX-1", "customer_id": customer_id,
                                                      "order_date": "2026-12-01",
                                                      "lines": [{"description": "龙井礼盒", "unit_price": "1280"}]},
                        headers=h)
    assert order.status_code in (200, 201), order.get_json()
    invoice = client.post("/api/v1/sales/invoices", json={"number": "INV-WX-1", "customer_id": customer_id,
                                                          "order_id": order.get_json()["id"],
                                                          "invoice_date": "2026-12-01", "due_date": "2026-12-31",
                                                          "amount_total": "1280"}, headers=h)
    assert invoice.status_code in (200, 201), invoice.get_json()
    paid = client.post(f"/api/v1/sales/invoices/{invoice.get_json()['id']}/payments",
                       json={"paid_on": "2026-12-02", "amount": "1280"}, headers=h)
    assert paid.status_code in (200, 201), paid.get_json()
    rewards = client.get("/api/v1/referrals/rewards?status=pending", headers=h).get_json()["items"]
    assert {(r["customer"], r["points"]) for r in rewards} == {("老会员王女士", 200), ("微信粉丝小陈", 80)}
    run_job("social.rewards")
    assert (points_of(ctx, referrer.id), points_of(ctx, customer_id)) == (200, 80)
    run_job("social.recompute")
    top = client.get("/api/v1/referrals/top-advocates", headers=h).get_json()
    assert top[0]["name"] == "老会员王女士" and top[0]["social_value"] == "1280.00" and top[0]["referral_count"] == 1
    tree = client.get(f"/api/v1/referrals/tree/{referrer.id}", headers=h).get_json()
    assert [n["name"] for n in tree["descendants"]] == ["微信粉丝小陈"]
    listed = client.get(f"/api/v1/referrals?customer_id={customer_id}", headers=h).get_json()["items"]
    assert listed[0]["source"] == "wechat" and listed[0]["source_label"] == "WeChat QR code"
