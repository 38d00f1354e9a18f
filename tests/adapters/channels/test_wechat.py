"""WeChat Official Account: the documented crypto vectors, the callback's checks in plain and safe mode
(forged, stale, replayed and duplicate pushes change nothing), events, passive replies and the API."""
from __future__ import annotations

import pytest

from adapters import crypto
from adapters.channels import wechat
from adapters.channels.models import ChannelMessage, ChannelNonce
from crmcore.channels import ChannelDown, Outgoing, providers
from crmcore.models import Interaction
from crmcore.services import customers, identities

# The WXBizMsgCrypt sample of WeChat's "消息加解密说明" (公众号), as published with the official SDK demo.
DOC = {"token": "spamtest", "aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "app_id": "wx2c2769f8efd9abc2",
       "timestamp": "1409735669", "nonce": "1320562132", "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
       "signature": "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a",
       "encrypt": "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2"
                  "LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOI"
                  "bgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJS"
                  "VO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM"
                  "669WuMyVWQLCzpu9GhglF2PE="}


def test_the_documented_vector():
    assert crypto.sha1_signature(DOC["token"], DOC["timestamp"], DOC["nonce"], "") == DOC["signature"]
    assert crypto.sha1_signature(DOC["token"], DOC["timestamp"], DOC["nonce"], DOC["encrypt"]) == DOC["msg_signature"]
    xml = crypto.wx_decrypt(DOC["aes_key"], DOC["encrypt"], DOC["app_id"])
    item = wechat.parse(DOC["app_id"], xml)
    assert (item.sender, item.kind, item.text, item.msg_id) == ("oyORnuP8q7ou2gfYjqLzSIWZf0rs", "text", "abcdteT",
                                                                "6054768590064713728")
    assert item.received_at.timestamp() == 1409735668
    with pytest.raises(crypto.CryptoError):
        crypto.wx_decrypt(DOC["aes_key"], DOC["encrypt"], "wxANOTHERAPP")


def _post(client, fake, pushed):
    query, body = pushed
    return client.post(f"/channels/wechat/{fake.app_id}/callback?{query}", data=body,
                       headers={"Content-Type": "text/xml"})


def test_url_check_echoes_only_a_signed_fresh_request(client, fake_wechat, wechat_account):
    wechat_account()
    query = fake_wechat.url_check("hello-echo")
    assert client.get(f"/channels/wechat/{fake_wechat.app_id}/callback?{query}").text == "hello-echo"
    assert client.get(f"/channels/wechat/{fake_wechat.app_id}/callback?{query}").status_code == 401  # replayed
    forged = query.replace("signature=", "signature=0")
    assert client.get(f"/channels/wechat/{fake_wechat.app_id}/callback?{forged}").status_code == 401
    assert client.get(f"/channels/wechat/wxUNKNOWN/callback?{fake_wechat.url_check()}").status_code == 404


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_a_message_is_stored_once_whatever_is_replayed(client, ctx, fake_wechat, wechat_account, mode):
    wechat_account(mode)
    pushed = fake_wechat.say("oALICE", "你们几点开门？", msg_id=5001, mode=mode)
    res = _post(client, fake_wechat, pushed)
    assert res.status_code == 200 and res.text == "success"
    assert _post(client, fake_wechat, pushed).status_code == 401  # the same push again: its nonce was seen
    again = fake_wechat.say("oALICE", "你们几点开门？", msg_id=5001, mode=mode)  # WeChat's retry: same MsgId, new nonce
    assert _post(client, fake_wechat, again).status_code == 200
    rows = ctx.session.query(ChannelMessage).all()
    assert [(m.sender, m.text, m.status, m.msg_id) for m in rows] == [("oALICE", "你们几点开门？", "unmatched", "5001")]


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_forged_stale_and_wrong_mode_pushes_change_nothing(client, ctx, fake_wechat, wechat_account, mode):
    wechat_account(mode)
    forged = fake_wechat.say("oEVE", "x", msg_id=1, mode=mode, signature="0" * 40)
    stale = fake_wechat.say("oEVE", "x", msg_id=2, mode=mode, timestamp=int(fake_wechat.clock()) - 3600)
    other = fake_wechat.say("oEVE", "x", msg_id=3, mode="safe" if mode == "plain" else "plain")
    assert _post(client, fake_wechat, forged).status_code == 401
    assert _post(client, fake_wechat, stale).status_code == 401
    assert _post(client, fake_wechat, other).status_code == 400
    assert ctx.session.query(ChannelMessage).count() == 0 and ctx.session.query(ChannelNonce).count() == 0


def test_an_xml_bomb_is_refused(client, ctx, fake_wechat, wechat_account):
    wechat_account()
    query, _body = fake_wechat.say("oEVE", "x", msg_id=9)
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><FromUserName>&a;</FromUserName></xml>'
    res = client.post(f"/channels/wechat/{fake_wechat.app_id}/callback?{query}", data=bomb)
    assert res.status_code == 400 and ctx.session.query(ChannelMessage).count() == 0


def test_events_scene_click_unsubscribe_and_the_welcome_reply(client, ctx, fake_wechat, wechat_account):
    wechat_account("safe", welcome_text="欢迎关注！]]>")
    a = customers.create_customer(ctx, {"name": "Alpha"})
    identities.add_identity(ctx, a.id, {"platform": "wechat_openid", "account": fake_wechat.app_id, "value": "oBOB"})
    res = _post(client, fake_wechat, fake_wechat.follow("oBOB", scene="ref_X7", mode="safe"))
    envelope = wechat._xml(res.data)
    ts, nonce, encrypted = envelope.findtext("TimeStamp"), envelope.findtext("Nonce"), envelope.findtext("Encrypt")
    crypto.verify_sha1(fake_wechat.token, ts, nonce, encrypted, envelope.findtext("MsgSignature"))
    reply = wechat._xml(crypto.wx_decrypt(fake_wechat.aes_key, encrypted, fake_wechat.app_id))
    assert (reply.findtext("ToUserName"), reply.findtext("FromUserName"), reply.findtext("Content")) == (
        "oBOB", fake_wechat.original_id, "欢迎关注！]]>")
    _post(client, fake_wechat, fake_wechat.follow("oBOB", scene="ref_Y8", already=True, mode="safe"))
    _post(client, fake_wechat, fake_wechat.click("oBOB", "MENU_SERVICE", mode="safe"))
    _post(client, fake_wechat, fake_wechat.unfollow("oBOB", mode="safe"))
    got = [(m.event, m.scene, m.status) for m in ctx.session.query(ChannelMessage).order_by(ChannelMessage.id)]
    assert got == [("subscribe", "ref_X7", "matched"), ("scan", "ref_Y8", "matched"), ("click", "MENU_SERVICE", "matched"),
                   ("unsubscribe", None, "matched")]
    assert [i.subject for i in ctx.session.query(Interaction).order_by(Interaction.id)] == [
        "Followed the account", "Scanned a QR code", "Clicked a menu", "Unfollowed the account"]


def _outgoing(address, text="您的订单已发货", **headers):
    return Outgoing(recipient_id=1, address=address, subject="s", html=None, text=text, message_id="m1", headers=headers)


def test_provider_sends_with_a_cached_and_refreshed_token(ctx, fake_wechat, wechat_account):
    wechat_account()
    provider = providers(ctx)["wechat"]
    assert provider.configured(ctx) is None
    fake_wechat.followers["oCAROL"] = {"subscribed": True, "unionid": None, "last_message": fake_wechat.clock()}
    address = f"{fake_wechat.app_id}:oCAROL"
    assert [o.ok for o in provider.send(ctx, [_outgoing(address), _outgoing(address)])] == [True, True]
    assert fake_wechat.token_requests == 1
    fake_wechat.expire_tokens()  # 42001: fetched again, the message still goes
    assert provider.send(ctx, [_outgoing(address)])[0].ok and fake_wechat.token_requests == 2
    sent = provider.send(ctx, [_outgoing(address, '{"first": "您好", "amount": "¥99"}', **{"X-WeChat-Template": "TPL_ORDER"})])
    assert sent[0].ok and fake_wechat.delivered[-1]["data"] == {"first": {"value": "您好"}, "amount": {"value": "¥99"}}
    assert [d["kind"] for d in fake_wechat.delivered] == ["custom", "custom", "custom", "template"]


def test_provider_says_why_a_message_cannot_go(ctx, fake_wechat, wechat_account):
    wechat_account()
    provider = providers(ctx)["wechat"]
    fake_wechat.followers["oOLD"] = {"subscribed": True, "unionid": None, "last_message": fake_wechat.clock() - 49 * 3600}
    fake_wechat.followers["oGONE"] = {"subscribed": False, "unionid": None, "last_message": fake_wechat.clock()}
    out = provider.send(ctx, [_outgoing(f"{fake_wechat.app_id}:oOLD"), _outgoing(f"{fake_wechat.app_id}:oGONE"),
                              _outgoing("wxNOPE:oX")])
    assert [o.ok for o in out] == [False, False, False]
    assert "48-hour" in out[0].error and "does not follow" in out[1].error


def test_subscribe_messages_need_a_consent_each(ctx, fake_wechat, wechat_account):
    wechat_account()
    provider = providers(ctx)["wechat"]
    fake_wechat.subscriptions["oSUB"] = {"TPL_SHIP": 1}
    message = _outgoing(f"{fake_wechat.app_id}:oSUB", '{"thing1": "已发货"}', **{"X-WeChat-Subscribe": "TPL_SHIP"})
    first, second = provider.send(ctx, [message]), provider.send(ctx, [message])
    assert first[0].ok and fake_wechat.delivered[-1]["data"] == {"thing1": {"value": "已发货"}}
    assert not second[0].ok and "not agreed" in second[0].error


def test_provider_down_is_channel_down(ctx, fake_wechat, wechat_account):
    wechat_account()
    fake_wechat.stop()
    with pytest.raises(ChannelDown):
        providers(ctx)["wechat"].send(ctx, [_outgoing(f"{fake_wechat.app_id}:oA")])


def test_the_address_is_the_newest_openid(ctx):
    from sqlalchemy import select

    from crmcore.models import Customer

    a = customers.create_customer(ctx, {"name": "Alpha"})
    identities.add_identity(ctx, a.id, {"platform": "wechat_openid", "account": "wxA", "value": "o1"})
    identities.add_identity(ctx, a.id, {"platform": "wechat_openid", "account": "wxB", "value": "o2"})
    provider = providers(ctx)["wechat"]
    assert ctx.session.scalar(select(provider.address()).where(Customer.id == a.id)) == "wxB:o2"
