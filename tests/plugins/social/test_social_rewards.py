"""Referral rewards: both parties rewarded when the new customer's first order is paid, pending until the return
window has passed, paid in loyalty points through ``crm_referral_reward``; fraud guards with their reasons."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from crm_plugin_loyalty import models as loyalty_models  # noqa: F401 - its table in the test database
from plugins.social.models import Reward
from plugins.social.services.rewards import grant_due

LATER = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(PLUGINS=["plugins.sales", "plugins.social", "crm_plugin_loyalty"])


def rewards(ctx: Any) -> list[Reward]:
    ctx.session.expire_all()
    return list(ctx.session.scalars(select(Reward).order_by(Reward.id)))


def test_first_paid_order_rewards_both_after_the_return_window(ctx: Any, make_customer: Any, refer: Any,
                                                               paid_order: Any) -> None:
    from crm_plugin_loyalty.services import points_of

    a = make_customer("推荐人", phone="13800000001")
    b = refer(a, "新客户", phone="13800000002")
    paid_order(b, "100", paid=False)
    assert rewards(ctx) == []  # not paid yet
    paid_order(b, "500")
    paid_order(b, "700")  # a second paid order: one reward per referee
    got = rewards(ctx)
    assert [(r.role, r.customer_id, r.status, r.points) for r in got] == [
        ("referrer", a.id, "pending", 100), ("referee", b.id, "pending", 50)]
    assert grant_due(ctx) == {"granted": 0, "cancelled": 0, "refused": 0}  # the window is not over
    assert grant_due(ctx, now=LATER)["granted"] == 2
    assert (points_of(ctx, a.id), points_of(ctx, b.id)) == (100, 50)
    assert grant_due(ctx, now=LATER)["granted"] == 0  # paid once


def test_a_cancelled_order_cancels_the_pending_reward(ctx: Any, make_customer: Any, refer: Any,
                                                      paid_order: Any) -> None:
    from plugins.sales.services import orders

    a = make_customer("推荐人")
    b = refer(a, "新客户")
    order = paid_order(b, "500")
    orders.record_order(ctx, {"number": order.number, "customer_id": b.id, "status": "cancelled"})
    grant_due(ctx, now=LATER)
    assert {(r.status, r.reason) for r in rewards(ctx)} == {("cancelled", "order_cancelled")}


@pytest.mark.parametrize("same, reason", [
    ({"phone": "13811112222"}, "same_phone"),
    ({"email": "Same@Example.cn"}, "same_email"),
])
def test_self_referral_by_the_same_phone_or_email_is_refused(ctx: Any, make_customer: Any, refer: Any,
                                                             paid_order: Any, same: dict[str, str], reason: str) -> None:
    a = make_customer("推荐人", **{k: v.lower() for k, v in same.items()})
    b = refer(a, "马甲", **same)
    paid_order(b, "500")
    assert {(r.status, r.reason) for r in rewards(ctx)} == {("refused", reason)}
    assert grant_due(ctx, now=LATER)["granted"] == 0


def test_same_address_is_refused(ctx: Any, make_customer: Any, refer: Any, paid_order: Any) -> None:
    from crmcore.services.contacts import add_address

    a = make_customer("推荐人")
    b = refer(a, "同址")
    add_address(ctx, a.id, {"line1": "南京路 100 号", "city": "上海"})
    add_address(ctx, b.id, {"line1": "南京路100号", "city": "上海"})
    paid_order(b, "500")
    assert {(r.status, r.reason) for r in rewards(ctx)} == {("refused", "same_address")}


def test_same_device_as_another_referee_is_refused(ctx: Any, client: Any, make_customer: Any,
                                                   paid_order: Any) -> None:
    """Two new customers who signed up from the same browser and address: only the first is rewarded."""
    from plugins.sales.services.leads import qualify_lead
    from plugins.sales.services import lead_forms
    from plugins.sales.models import Lead
    from plugins.social.services.codes import code_for

    form = lead_forms.create_form(ctx, {"name": "官网", "title": "联系我们", "asked": [{"field": "phone"}]})
    a = make_customer("推荐人")
    code = code_for(ctx, customer_id=a.id).code
    for name, phone in (("访客一", "13600000001"), ("访客二", "13600000002")):
        client.post(f"/sales/forms/{form.key}", data={"name": name, "phone": phone, "ref": code},
                    headers={"User-Agent": "同一台手机"})
        lead = ctx.session.scalar(select(Lead).where(Lead.name == name))
        paid_order(ctx.session.get(type(a), qualify_lead(ctx, lead.id, {"create_opportunity": False})["customer_id"]),
                   "300")
    got = rewards(ctx)
    assert [(r.status, r.reason) for r in got] == [("pending", None), ("pending", None),
                                                   ("refused", "same_device"), ("refused", "same_device")]


def test_reward_api_and_programme_settings(ctx: Any, client: Any, admin_headers: Any, make_customer: Any,
                                           refer: Any, paid_order: Any) -> None:
    res = client.get("/api/v1/referrals/programme", headers=admin_headers)
    etag = res.headers["ETag"]
    assert res.get_json()["decay"] == "0.500" or float(res.get_json()["decay"]) == 0.5
    bad = client.patch("/api/v1/referrals/programme", json={"decay": 2, "return_window_days": -1},
                       headers={**admin_headers, "If-Match": etag, "Accept-Language": "zh-CN"})
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"decay", "return_window_days"}
    ok = client.patch("/api/v1/referrals/programme", json={"referrer_points": 30, "active": False},
                      headers={**admin_headers, "If-Match": etag})
    assert ok.status_code == 200 and ok.get_json()["referrer_points"] == 30
    stale = client.patch("/api/v1/referrals/programme", json={"referrer_points": 40},
                         headers={**admin_headers, "If-Match": etag})
    assert stale.status_code == 412
    a = make_customer("推荐人")
    paid_order(refer(a, "新客户"), "500")
    res = client.get("/api/v1/referrals/rewards?status=refused", headers={**admin_headers, "Accept-Language": "zh-CN"})
    items = res.get_json()["items"]
    assert len(items) == 2 and items[0]["reason"] == "programme_off" and items[0]["reason_label"] != "programme_off"
    assert {i["customer"] for i in items} == {"推荐人", "新客户"}


def test_programme_refuses_an_unknown_coupon_programme(client: Any, admin_headers: Any) -> None:
    res = client.patch("/api/v1/referrals/programme", json={"reward_kind": "coupon"}, headers=admin_headers)
    assert res.status_code == 422 and "coupon_programme_id" in res.get_json()["errors"]
    res = client.patch("/api/v1/referrals/programme", json={"reward_kind": "coupon", "coupon_programme_id": 4242},
                       headers=admin_headers)
    assert res.status_code == 422 and "coupon_programme_id" in res.get_json()["errors"]
