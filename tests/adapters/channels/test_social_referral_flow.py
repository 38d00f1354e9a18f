"""Issue 18's social flow end to end: a WeChat follower scans a referrer's QR code (a real signed callback from the
WeChat fake), waits in the unmatched queue, an agent makes them a lead (the scanned referral goes with it), the lead
is qualified, buys and pays through the sales API; after the return window (the clock moved) the rewards job pays
the referrer, and the top advocates report shows the referrer with that revenue."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from adapters.channels.models import ChannelMessage
from crm_plugin_loyalty import models as loyalty_models  # noqa: F401 - its table in the test database
from plugins.social import models as social_models  # noqa: F401

from .conftest import PLUGINS


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(PLUGINS=[*PLUGINS, "plugins.social", "crm_plugin_loyalty"])


def _post(client: Any, fake: Any, pushed: tuple[str, bytes]) -> Any:
    query, body = pushed
    return client.post(f"/channels/wechat/{fake.app_id}/callback?{query}", data=body,
                       headers={"Content-Type": "text/xml"})


def test_follower_scans_referral_code_and_the_referrer_is_rewarded(client, ctx, fake_wechat, wechat_account,
                                                                    admin_headers, make_customer, run_job,
                                                                    monkeypatch):
    from crm_plugin_loyalty.services import points_of
    from plugins.social.services import rewards

    h = admin_headers
    wechat_account("safe")
    referrer = make_customer("老会员王女士", phone="13811110000")
    code = client.post("/api/v1/referrals/codes", json={"customer_id": referrer.id}, headers=h).get_json()["code"]

    # 1. the follower scans the referrer's QR code: WeChat posts a signed, encrypted subscribe with the scene
    pushed = fake_wechat.follow("oNEWFAN", scene=f"ref_{code}", mode="safe")
    assert _post(client, fake_wechat, pushed).status_code == 200
    assert _post(client, fake_wechat, pushed).status_code == 401  # the same push replayed: refused
    assert _post(client, fake_wechat, fake_wechat.say("oNEWFAN", "想了解一下龙井礼盒", msg_id=9001, mode="safe")).status_code == 200
    queue = client.get("/api/v1/channels/unmatched", headers=h).get_json()
    items = queue["items"] if isinstance(queue, dict) else queue
    first = min(items, key=lambda m: m["id"])
    assert first["sender"] == "oNEWFAN" and first["scene"] == f"ref_{code}"

    # 2. an agent makes the follower a lead from the queue: the referral scanned goes with the lead
    made = client.post(f"/api/v1/channels/unmatched/{first['id']}/lead",
                       json={"name": "微信粉丝小陈", "phone": "13922223333"}, headers=h)
    assert made.status_code == 201, made.get_json()
    lead_id = made.get_json()["lead_id"]
    assert {m.status for m in ctx.session.query(ChannelMessage)} == {"lead"}

    # 3. the lead is qualified into a customer, who buys and pays
    qualified = client.post(f"/api/v1/sales/leads/{lead_id}/qualify", json={"create_opportunity": False}, headers=h)
    assert qualified.status_code == 200, qualified.get_json()
    customer_id = qualified.get_json()["customer_id"]
    listed = client.get(f"/api/v1/referrals?customer_id={customer_id}", headers=h).get_json()["items"]
    assert [(r["source"], r["referrer"]) for r in listed] == [("wechat", "老会员王女士")]
    order = client.post("/api/v1/sales/orders", json={"number": "SO-WX-9", "customer_id": customer_id,
                                                      "order_date": "2026-12-01",
                                                      "lines": [{"description": "龙井礼盒", "unit_price": "1280"}]},
                        headers=h)
    assert order.status_code in (200, 201), order.get_json()
    invoice = client.post("/api/v1/sales/invoices", json={"number": "INV-WX-9", "customer_id": customer_id,
                                                          "order_id": order.get_json()["id"], "invoice_date": "2026-12-01",
                                                          "due_date": "2026-12-31", "amount_total": "1280"}, headers=h)
    assert invoice.status_code in (200, 201), invoice.get_json()
    paid = client.post(f"/api/v1/sales/invoices/{invoice.get_json()['id']}/payments",
                       json={"paid_on": "2026-12-02", "amount": "1280"}, headers=h)
    assert paid.status_code in (200, 201), paid.get_json()

    # 4. within the return window nothing is paid; once it has passed, the rewards job pays the referrer
    run_job("social.rewards")
    assert points_of(ctx, referrer.id) == 0
    later = rewards.utcnow() + dt.timedelta(days=15)
    monkeypatch.setattr(rewards, "utcnow", lambda: later)
    run_job("social.rewards")
    assert points_of(ctx, referrer.id) == 100 and points_of(ctx, customer_id) == 50  # the programme's defaults

    # 5. the social value report shows the referrer with that revenue
    run_job("social.recompute")
    top = client.get("/api/v1/referrals/top-advocates", headers=h).get_json()
    assert (top[0]["name"], top[0]["social_value"], top[0]["referral_count"]) == ("老会员王女士", "1280.00", 1)


def test_a_queued_scan_refers_the_customer_the_follower_is_linked_to(client, ctx, fake_wechat, wechat_account,
                                                                     admin_headers, make_customer):
    h = admin_headers
    wechat_account()
    referrer = make_customer("老会员王女士")
    known = make_customer("老客户李先生")
    code = client.post("/api/v1/referrals/codes", json={"customer_id": referrer.id}, headers=h).get_json()["code"]
    assert _post(client, fake_wechat, fake_wechat.follow("oLI", scene=f"ref_{code}")).status_code == 200
    [message] = ctx.session.query(ChannelMessage).all()
    assert message.status == "unmatched"
    message_id = message.id
    ctx.session.rollback()  # no read transaction of the test left open on SQLite while the app writes
    linked = client.post(f"/api/v1/channels/unmatched/{message_id}/link", json={"customer_id": known.id}, headers=h)
    assert linked.status_code == 200, linked.get_json()
    listed = client.get(f"/api/v1/referrals?customer_id={known.id}", headers=h).get_json()["items"]
    assert [(r["source"], r["referrer"]) for r in listed] == [("wechat", "老会员王女士")]


def test_a_wecom_contact_me_state_carries_a_referral_code_like_a_wechat_scene(client, ctx, admin_headers,
                                                                              make_customer):
    """A customer adds a staff member through a WeCom "contact me" way whose ``state`` is ``ref_<code>`` (the real
    signed, encrypted callback): a known contact is referred at once, an unknown one when an agent links them."""
    from urllib.parse import urlencode

    from adapters.channels import accounts
    from crmcore.services import identities

    from .wecom_fake import FakeWeComContact

    h, wecom = admin_headers, FakeWeComContact()
    try:
        accounts.save_account(ctx, {"platform": "wecom", "account": wecom.corp_id, "name": "企业微信",
                                    "secrets": {"token": wecom.token, "encoding_aes_key": wecom.aes_key}})
        referrer, known, later = (make_customer(n) for n in ("老会员王女士", "老客户李先生", "新客户赵女士"))
        identities.record(ctx, known.id, "wecom_external_userid", "wmKNOWN", wecom.corp_id)
        ctx.session.commit()
        code = client.post("/api/v1/referrals/codes", json={"customer_id": referrer.id}, headers=h).get_json()["code"]

        def post(external: str) -> Any:
            args, body = wecom.callback(wecom.event_xml("add_external_contact", "zhangsan", external, state=f"ref_{code}"))
            return client.post(f"/channels/wecom/{wecom.corp_id}/callback?{urlencode(args)}", data=body,
                               content_type="application/xml")

        assert post("wmKNOWN").status_code == 200
        listed = client.get(f"/api/v1/referrals?customer_id={known.id}", headers=h).get_json()["items"]
        assert [(r["source"], r["source_label"], r["referrer"]) for r in listed] == [
            ("wecom", "WeCom contact me", "老会员王女士")]
        assert post("wmNEW").status_code == 200  # not known yet: queued with its state
        [queued] = ctx.session.query(ChannelMessage).filter_by(sender="wmNEW").all()
        assert (queued.status, queued.scene) == ("unmatched", f"ref_{code}")
        queued_id = queued.id
        ctx.session.rollback()
        linked = client.post(f"/api/v1/channels/unmatched/{queued_id}/link", json={"customer_id": later.id}, headers=h)
        assert linked.status_code == 200, linked.get_json()
        listed = client.get(f"/api/v1/referrals?customer_id={later.id}", headers=h).get_json()["items"]
        assert [(r["source"], r["referrer"]) for r in listed] == [("wecom", "老会员王女士")]
        assert post("wmKNOWN").status_code == 200  # WeCom retries the same event (a new nonce): nothing doubled
        assert len(client.get(f"/api/v1/referrals?customer_id={known.id}", headers=h).get_json()["items"]) == 1
    finally:
        wecom.stop()


def test_the_wecom_contacts_pull_hands_a_new_contacts_state_to_the_scene_hook(client, ctx, admin_headers, make_customer):
    """Contacts the pull job brings in (no callback seen) carry their "contact me" state like the callback's add
    event: ``ref_<code>`` refers a contact new to the CRM, once; a known contact's state and a re-pull hand nothing."""
    from adapters.channels import accounts, jobs
    from adapters.channels import wecom_contact as wc
    from crmcore.services import identities

    from .wecom_fake import FakeWeComContact

    h, wecom = admin_headers, FakeWeComContact()
    wc._tokens.clear()
    try:
        accounts.save_account(ctx, {"platform": "wecom", "account": wecom.corp_id, "name": "企业微信",
                                    "config": {"base_url": wecom.url}, "secrets": {"contact_secret": wecom.secret}})
        referrer, known = make_customer("老会员王女士"), make_customer("老客户李先生")
        identities.record(ctx, known.id, "wecom_external_userid", "wmOLD", wecom.corp_id)
        ctx.session.commit()
        code = client.post("/api/v1/referrals/codes", json={"customer_id": referrer.id}, headers=h).get_json()["code"]
        wecom.add_contact("wmREF", "新客户赵女士", "zhangsan", state=f"ref_{code}", createtime=1765000000)
        wecom.add_contact("wmREF", "新客户赵女士", "lisi", state=f"ref_{code}", createtime=1765000100)  # two staff
        wecom.add_contact("wmPLAIN", "路人甲", "zhangsan")
        wecom.add_contact("wmOLD", "老客户李先生", "zhangsan", state=f"ref_{code}")

        assert jobs.wecom_contacts(ctx) == {"linked": 0, "created": 2, "known": 1}
        new = identities.find_customer(ctx, "wecom_external_userid", "wmREF", wecom.corp_id)
        listed = client.get(f"/api/v1/referrals?customer_id={new.id}", headers=h).get_json()["items"]
        assert [(r["source"], r["referrer"]) for r in listed] == [("wecom", "老会员王女士")]
        assert client.get(f"/api/v1/referrals?customer_id={known.id}", headers=h).get_json()["items"] == []
        events = ctx.session.query(ChannelMessage).filter_by(event="add_external_contact").all()
        assert sorted((m.sender, m.scene, m.customer_id) for m in events) == [
            ("wmREF", f"ref_{code}", new.id), ("wmREF", f"ref_{code}", new.id)]

        assert jobs.wecom_contacts(ctx) == {"linked": 0, "created": 0, "known": 3}  # again: nothing handed twice
        assert len(client.get(f"/api/v1/referrals?customer_id={new.id}", headers=h).get_json()["items"]) == 1
        assert ctx.session.query(ChannelMessage).filter_by(event="add_external_contact").count() == 2
    finally:
        wecom.stop()
