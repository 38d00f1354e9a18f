"""RSVP through WeChat (issue 18): a member event's and an invitation's parametric QR codes (scene ``evt_<token>``,
made by the WeChat fake's ``qrcode/create``), scanned by followers, go through the real signed (safe mode) callback;
the answer "coming" is recorded once and the follower gets a passive reply in their language. Unknown followers,
forged scenes, a full, cancelled or closed event and repeated scans each get their answer and change nothing more."""
from __future__ import annotations

import datetime as dt
from typing import Any

import defusedxml.ElementTree as ET
import pytest

from adapters import crypto
from adapters.channels.models import ChannelMessage
from plugins.marketing import models as marketing_models  # noqa: F401 - its tables in the test database
from plugins.member_events import models as event_models  # noqa: F401
from plugins.member_events.models import Invitation

from .conftest import PLUGINS


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(PLUGINS=[*PLUGINS, "plugins.marketing", "plugins.member_events"],
                    MARKETING_PUBLIC_URL="https://crm.example.cn")


def _post(client: Any, fake: Any, pushed: Any) -> Any:
    assert pushed is not None, "the QR code is unknown or expired"
    query, body = pushed
    return client.post(f"/channels/wechat/{fake.app_id}/callback?{query}", data=body, headers={"Content-Type": "text/xml"})


def _reply(fake: Any, response: Any) -> str | None:
    """The text of the passive reply (decrypted in safe mode), None for a bare ``success``."""
    assert response.status_code == 200, response.data
    if response.data == b"success":
        return None
    encrypted = ET.fromstring(response.data).findtext("Encrypt")
    xml = crypto.wx_decrypt(fake.aes_key, encrypted, fake.app_id) if encrypted else response.data.decode()
    return ET.fromstring(xml).findtext("Content")


def _event(ctx: Any, **data: Any) -> Any:
    from plugins.member_events.services import events

    day = (dt.datetime.now(dt.timezone(dt.timedelta(hours=8))) + dt.timedelta(days=5)).date()
    return events.save_event(ctx, {"name": "会员答谢会", "place": "西湖国宾馆", "starts_at": f"{day.isoformat()}T19:00",
                                   "timezone": "Asia/Shanghai", **data})


def _follower(ctx: Any, fake: Any, customer: Any, openid: str, language: str | None = None) -> None:
    from crmcore.services import identities
    from plugins.marketing.services import languages

    identities.add_identity(ctx, customer.id, {"platform": "wechat_openid", "account": fake.app_id, "value": openid})
    if language:
        languages.set_language(ctx, customer.id, {"language": language})


def _answer(ctx: Any, customer: Any) -> tuple[str, Any]:
    ctx.session.expire_all()
    row = ctx.session.query(Invitation).filter_by(customer_id=customer.id).one()
    return row.response, row.responded_at


def test_followers_scan_the_events_qr_code_and_are_answered_in_their_language(
        client, ctx, fake_wechat, wechat_account, make_customer, admin_headers):
    from plugins.member_events.services import invitations, wechat_rsvp

    wechat_account("safe")
    event = _event(ctx, capacity=2)
    ann, bo, chen, dai = (make_customer(n) for n in ("Ann Lee", "薄先生", "陈女士", "戴先生"))
    _follower(ctx, fake_wechat, ann, "oANN", "en")
    _follower(ctx, fake_wechat, bo, "oBO", "zh_CN")
    _follower(ctx, fake_wechat, dai, "oDAI", "en")
    invitations.invite(ctx, event.id, {"customer_ids": [ann.id, bo.id, chen.id]})

    url = wechat_rsvp.qrcode_url(ctx, event)
    assert url and fake_wechat.qrcodes[url][0] == wechat_rsvp.scene(ctx, event)
    assert len(wechat_rsvp.scene(ctx, event)) <= 64  # WeChat's limit for a scene_str
    assert wechat_rsvp.qrcode_url(ctx, event) == url  # asked once, kept until it expires

    # an invited follower scans (already following: SCAN): "coming" is recorded, the reply is in English
    first = fake_wechat.scan(url, "oANN", already=True, mode="safe")
    said = _reply(fake_wechat, _post(client, fake_wechat, first))
    assert said and "recorded that you are coming to 会员答谢会" in said and "/events/r/" in said
    response, answered_at = _answer(ctx, ann)
    assert response == "yes"
    assert _post(client, fake_wechat, first).status_code == 401  # the same push replayed: refused
    # the same follower scans again later: told so, nothing changes
    now = fake_wechat.clock()
    fake_wechat.clock = lambda: now + 5
    said = _reply(fake_wechat, _post(client, fake_wechat, fake_wechat.scan(url, "oANN", already=True, mode="safe")))
    assert said and said.startswith("You have said already that you are coming")
    assert _answer(ctx, ann) == ("yes", answered_at)

    # an unknown follower scans: asked to use their link, queued; linked by an agent, their scan answers
    said = _reply(fake_wechat, _post(client, fake_wechat, fake_wechat.scan(url, "oNEW", mode="safe")))
    assert said and "could not find your invitation" in said
    assert _answer(ctx, chen)[0] == "pending"
    queued = ctx.session.query(ChannelMessage).filter_by(sender="oNEW").one()
    linked = client.post(f"/api/v1/channels/unmatched/{queued.id}/link", json={"customer_id": chen.id},
                         headers=admin_headers)
    assert linked.status_code == 200, linked.get_json()
    assert _answer(ctx, chen)[0] == "yes"
    # the answer to that scan reaches the follower as a customer-service message (the passive reply is gone)
    custom = [d for d in fake_wechat.delivered if d["kind"] == "custom"]
    assert [(d["touser"], d["msgtype"]) for d in custom] == [("oNEW", "text")]
    assert "会员答谢会" in custom[0]["text"]["content"]

    # the event is full now: the next invited follower is told so in Chinese, nothing recorded
    said = _reply(fake_wechat, _post(client, fake_wechat, fake_wechat.scan(url, "oBO", already=True, mode="safe")))
    assert said and "满" in said
    assert _answer(ctx, bo)[0] == "pending"
    # a known customer who is not invited: told so, no invitation made
    said = _reply(fake_wechat, _post(client, fake_wechat, fake_wechat.scan(url, "oDAI", already=True, mode="safe")))
    assert said and "could not find your invitation to 会员答谢会" in said
    assert ctx.session.query(Invitation).filter_by(customer_id=dai.id).count() == 0
    # a forged or changed scene: not valid, nothing recorded
    forged = wechat_rsvp.scene(ctx, event)[:-2] + "xx"
    fake_wechat.clock = lambda: now + 10  # another second: WeChat's event key (sender + time) differs
    said = _reply(fake_wechat, _post(client, fake_wechat, fake_wechat.follow("oDAI", scene=forged, already=True,
                                                                               mode="safe")))
    assert said and said.startswith("This QR code is not valid any more")
    assert ctx.session.query(Invitation).filter_by(response="yes").count() == 2


def test_an_invitations_qr_code_answers_for_its_invitee_until_the_event_closes(
        client, ctx, fake_wechat, wechat_account, make_customer):
    from plugins.member_events.services import events, invitations, wechat_rsvp

    wechat_account("plain", welcome_text="欢迎关注")
    event = _event(ctx)
    guest, other = make_customer("周女士"), make_customer("吴先生")
    invitations.invite(ctx, event.id, {"customer_ids": [guest.id, other.id]})
    first, second = ctx.session.query(Invitation).order_by(Invitation.id).all()

    page = client.get(f"/events/r/{invitations.token(ctx, 'rsvp', first.id)}")
    assert page.status_code == 200 and b"event-wechat-qr" in page.data
    url = wechat_rsvp.qrcode_url(ctx, first)
    assert url and url != wechat_rsvp.qrcode_url(ctx, event)

    # a new follower scans their invitation's code: the invitation is the proof; the welcome comes first
    said = _reply(fake_wechat, _post(client, fake_wechat, fake_wechat.scan(url, "oZHOU")))
    assert said and said.startswith("欢迎关注\n\n") and "recorded that you are coming" in said
    assert _answer(ctx, guest)[0] == "yes" and _answer(ctx, other)[0] == "pending"
    page = client.get(f"/events/r/{invitations.token(ctx, 'rsvp', first.id)}")
    assert b"event-wechat-qr" not in page.data and b"event-pass" in page.data  # coming: the entry pass instead

    # the event is cancelled: the other invitation's code is told so and records nothing
    other_url = wechat_rsvp.qrcode_url(ctx, second)
    assert other_url
    events.save_event(ctx, {"cancelled": True}, event.id)
    second = ctx.session.get(Invitation, second.id)  # the requests above ended the session it was read in
    assert wechat_rsvp.qrcode_url(ctx, second) is None  # no new codes for a closed event
    said = _reply(fake_wechat, _post(client, fake_wechat, fake_wechat.scan(other_url, "oWU")))
    assert said and "cancelled" in said
    assert _answer(ctx, other)[0] == "pending"
    # a code past its lifetime: WeChat pushes nothing
    now = fake_wechat.clock()
    fake_wechat.clock = lambda: now + 31 * 86400
    assert fake_wechat.scan(other_url, "oWU2") is None


def test_without_a_wechat_account_there_is_no_qr_code(ctx, make_customer):
    from plugins.member_events.services import wechat_rsvp

    assert wechat_rsvp.qrcode_url(ctx, _event(ctx)) is None


def test_a_scene_answer_outside_wechats_48_hours_is_not_sent_and_the_link_stands(ctx, fake_wechat, wechat_account, caplog):
    """WeChat refuses a customer-service message 48 hours after the follower's last message (45015): the answer is
    logged as not sent, nothing raised, and a WeCom message's answers are not sent at all."""
    import logging

    from adapters.channels.scene_replies import send_scene_replies

    wechat_account()
    fake_wechat.followers["oOLD"] = {"subscribed": True, "last_message": fake_wechat.clock() - 49 * 3600}
    fake_wechat.followers["oNOW"] = {"subscribed": True, "last_message": fake_wechat.clock()}
    at = dt.datetime.now(dt.timezone.utc)
    old, now, wecom = (ChannelMessage(platform=p, account=a, sender=s, msg_id=s, kind="event", event="scan",
                                      received_at=at, status="matched")
                       for p, a, s in (("wechat", fake_wechat.app_id, "oOLD"), ("wechat", fake_wechat.app_id, "oNOW"),
                                       ("wecom", "wwCORP", "wmX")))
    ctx.session.add_all([old, now, wecom])
    ctx.session.commit()
    caplog.set_level(logging.INFO)
    assert send_scene_replies(ctx, [(old, ["太晚了"]), (now, ["您已报名"]), (wecom, ["不发"])]) == 1
    assert [(d["touser"], d["text"]["content"]) for d in fake_wechat.delivered] == [("oNOW", "您已报名")]
    assert "45015" in caplog.text and fake_wechat.app_secret not in caplog.text
