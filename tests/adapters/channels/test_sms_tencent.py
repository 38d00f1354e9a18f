"""Tencent Cloud SMS: TC3-HMAC-SHA256 against Tencent Cloud's documented worked example, sends through the
protocol-faithful fake (sms_fakes.FakeTencent), per-number statuses and vendor errors, callbacks."""
from __future__ import annotations

from typing import Any

import pytest

from adapters.channels import accounts, sms_tencent
from adapters.channels.sms import SmsChannel, sms_settings
from adapters.channels.account_context import AccountContext
from crmcore.channels import ChannelDown, Outgoing
from crmcore.errors import AuthenticationRequired, BadRequest

from .sms_fakes import FakeTencent

# Tencent Cloud API 3.0 "Signature v3" worked example (CVM DescribeInstances in ap-guangzhou)
DOC = {"secret_id": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "secret_key": "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
       "timestamp": 1551113065, "host": "cvm.tencentcloudapi.com",
       "payload": b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}',
       "hashed_payload": "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064",
       "hashed_canonical": "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031",
       "signature": "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"}

# the SMS channel account (sends and callbacks read it only); base_url: the fake's
ACCOUNT = {"platform": "sms", "account": "腾讯云", "name": "短信",
           "config": {"vendor": "tencent", "sdk_app_id": FakeTencent.app_id, "template": "449739"},
           "secrets": {"key_id": FakeTencent.secret_id, "key_secret": FakeTencent.secret_key, "callback_token": "cb-token"}}


def sms_account(ctx: Any, url: str, **secrets: Any) -> Any:
    return accounts.save_account(ctx, {**ACCOUNT, "config": {**ACCOUNT["config"], "base_url": url},
                                       "secrets": {**ACCOUNT["secrets"], **secrets}})


@pytest.fixture
def fake() -> Any:
    vendor = FakeTencent()
    yield vendor
    vendor.stop()


@pytest.fixture
def account(ctx: Any, fake: FakeTencent) -> Any:
    return sms_account(ctx, fake.url)


@pytest.fixture
def vctx(ctx: Any, account: Any) -> Any:
    """The context the vendor module is given: the account's settings only."""
    return AccountContext(ctx, sms_settings(account)[1], own=("SMS_",))


def msg(rid: int, phone: str, text: str | None = "4370", subject: str = "") -> Outgoing:
    return Outgoing(recipient_id=rid, address=phone, subject=subject, html=None, text=text, message_id=f"<m{rid}@crm>")


def test_tc3_matches_tencents_worked_example():
    headers = {"content-type": "application/json; charset=utf-8", "host": DOC["host"]}
    canonical = sms_tencent.canonical_request("POST", "/", "", headers, DOC["payload"])
    assert canonical == ("POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
                         f"content-type;host\n{DOC['hashed_payload']}")
    assert sms_tencent.string_to_sign("cvm", DOC["timestamp"], canonical) == (
        f"TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n{DOC['hashed_canonical']}")
    assert sms_tencent.tc3_signature(DOC["secret_key"], "cvm", DOC["timestamp"], "POST", "/", "", headers,
                                     DOC["payload"]) == DOC["signature"]
    assert sms_tencent.authorization(DOC["secret_id"], DOC["secret_key"], "cvm", DOC["timestamp"], DOC["host"],
                                     DOC["payload"]) == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={DOC['signature']}")
    # the date is UTC's: 1551113065 is 2019-02-26 00:44 in Beijing and still 2019-02-25 in the scope
    assert sms_tencent.tc3_signature(DOC["secret_key"], "cvm", DOC["timestamp"], "POST", "/", "", headers,
                                     DOC["payload"] + b" ") != DOC["signature"]


def test_send_per_number_statuses(ctx, fake, account):
    provider = SmsChannel()
    assert provider.configured(ctx) is None
    fake.limited.add("+8613900139000")
    out = provider.send(ctx, [msg(1, "+8613800138000"), msg(2, "+8613900139000"), msg(3, "+85261234567")])
    assert out[0].ok and not out[1].ok and not out[2].ok
    assert "LimitExceeded.PhoneNumberDailyLimit" in out[1].error and "daily limit" in out[1].error
    assert "InvalidParameterValue.IncorrectPhoneNumber" in out[2].error
    assert len(fake.calls) == 1  # same template and parameters: one request for the three numbers
    assert fake.sent == [{"phone": "+8613800138000", "sign": "腾讯云", "template": "449739", "params": ["4370"],
                          "serial": fake.sent[0]["serial"], "session": ""}]
    out = provider.send(ctx, [msg(4, "+8613700137000", '["王芳", "VIP88"]', subject="1110")])
    assert out[0].ok and fake.sent[-1]["params"] == ["王芳", "VIP88"] and fake.sent[-1]["session"] == "<m4@crm>"


def test_request_errors_are_clear_reasons(ctx, fake, account):
    provider = SmsChannel()
    out = provider.send(ctx, [msg(1, "+8613800138000", "x", subject="9999")])
    assert "FailedOperation.TemplateIncorrectOrUnapproved" in out[0].error and "not approved" in out[0].error
    out = provider.send(ctx, [msg(1, "+8613800138000", '["a", "b", "c"]', subject="1110")])
    assert "TemplateParameterFormatError" in out[0].error
    out = provider.send(ctx, [msg(1, "+8613800138000", '{"a": 1}')])
    assert "JSON array" in out[0].error
    fake.blacklisted.add("+8613800138000")
    out = provider.send(ctx, [msg(1, "+8613800138000")])
    assert "PhoneNumberInBlacklist" in out[0].error and "opted out" in out[0].error
    assert fake.sent == []


def test_wrong_key_is_refused_by_the_fake(ctx, fake):
    sms_account(ctx, fake.url, key_secret="wrong-key")
    out = SmsChannel().send(ctx, [msg(1, "+8613800138000")])
    assert "AuthFailure.SignatureFailure" in out[0].error and "wrong-key" not in out[0].error
    # an old timestamp (the TC3 scope's date and the header agree, so only the age is wrong)
    client = sms_tencent.TencentClient(FakeTencent.secret_id, FakeTencent.secret_key, endpoint=fake.url)
    answer = client.call("SendSms", {"PhoneNumberSet": []}, timestamp=1551113065)
    assert answer["Error"]["Code"] == "AuthFailure.SignatureExpire"
    assert fake.sent == []


def test_down_or_throttled_raises_channel_down(ctx, fake, vctx):
    fake.throttled = True
    with pytest.raises(ChannelDown, match="RequestLimitExceeded"):
        SmsChannel().send(ctx, [msg(1, "+8613800138000")])
    fake.throttled, fake.down = False, True
    with pytest.raises(ChannelDown) as down:
        SmsChannel().send(ctx, [msg(1, "+8613800138000")])
    assert FakeTencent.secret_key not in str(down.value)
    assert FakeTencent.secret_key not in repr(sms_tencent.TencentSms().client(vctx))


def test_status_and_reply_callbacks(ctx, fake, vctx):
    SmsChannel().send(ctx, [msg(1, "+8613800138000"), msg(2, "+8613900139000")])
    items = sms_tencent.receive(vctx, {"token": "cb-token"}, fake.status_push())
    assert [(i.kind, i.event, i.sender) for i in items] == [("receipt", "delivered", "+8613800138000"),
                                                            ("receipt", "delivered", "+8613900139000")]
    assert items[0].msg_id == f"tencent:report:{fake.sent[0]['serial']}" and items[0].account == "腾讯云"
    failed = sms_tencent.receive(vctx, {"token": "cb-token"}, fake.status_push(delivered=False))
    assert failed[0].event == "failed" and "MK:0005" in failed[0].text
    body = fake.reply_push("13800138000", "回T退订", at=1457336869)
    reply = sms_tencent.receive(vctx, {"token": "cb-token"}, body)
    assert (reply[0].kind, reply[0].text, reply[0].sender, reply[0].event) == ("text", "回T退订", "+8613800138000", None)
    assert reply[0].received_at.isoformat() == "2016-03-07T07:47:49+00:00"
    assert sms_tencent.receive(vctx, {"token": "cb-token"}, body)[0].msg_id == reply[0].msg_id  # a retry dedupes
    other = sms_tencent.receive(vctx, {"token": "cb-token"}, fake.reply_push("13800138000", "好的", at=1457336869))
    assert other[0].msg_id != reply[0].msg_id and other[0].event is None
    stop = sms_tencent.receive(vctx, {"token": "cb-token"}, fake.reply_push("13800138000", " t ", at=1457336870))
    assert stop[0].event == "unsubscribe"


def test_forged_or_broken_callbacks_are_refused(ctx, fake, vctx):
    body = fake.reply_push("13800138000", "hi")
    with pytest.raises(AuthenticationRequired):
        sms_tencent.receive(vctx, {"token": "cb-tokeN"}, body)
    with pytest.raises(BadRequest):
        sms_tencent.receive(vctx, {"token": "cb-token"}, b"not json")
    with pytest.raises(BadRequest):
        sms_tencent.receive(vctx, {"token": "cb-token"}, b'[{"mobile": "13800138000"}]')
    with pytest.raises(BadRequest):
        sms_tencent.receive(vctx, {"token": "cb-token"}, b'{"mobile": "13800138000", "text": "x", "time": "soon"}')


def test_an_account_without_its_app_id_says_so(ctx, fake):
    """Tencent also needs the SMS application's SdkAppId: the account's field is named in words."""
    accounts.save_account(ctx, {**ACCOUNT, "config": {"vendor": "tencent", "base_url": fake.url}})
    problem = SmsChannel().configured(ctx)
    assert problem is not None and "SdkAppId" in problem and "SMS_TENCENT" not in problem
    out = SmsChannel().send(ctx, [msg(1, "+8613800138000")])
    assert out[0].error == problem and fake.calls == []
