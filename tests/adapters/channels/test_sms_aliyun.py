"""Alibaba Cloud SMS: the RPC signature against Alibaba's documented worked examples, sends through the
protocol-faithful fake (sms_fakes.FakeAliyun), vendor errors as reasons, a vendor that is down, pushes."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from adapters.channels import accounts, sms_aliyun
from adapters.channels.sms import SmsChannel, sms_settings
from adapters.channels.account_context import AccountContext
from crmcore.channels import ChannelDown, Outgoing
from crmcore.errors import AuthenticationRequired, BadRequest, NotFound

from .sms_fakes import FakeAliyun

# Alibaba Cloud SMS documentation, "HTTP 协议及签名" (help.aliyun.com/document_detail/56189): the SendSms example
DOC_SMS = {"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123", "PhoneNumbers": "15300000001",
           "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
           "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466", "SignatureVersion": "1.0",
           "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
           "Version": "2017-05-25"}
DOC_SMS_STRING_TO_SIGN = (
    "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001"
    "%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4"
    "%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1"
    "%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007"
    "%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z"
    "%26Version%3D2017-05-25")
# Alibaba Cloud "Signature mechanism" of RPC APIs: the DescribeRegions example (testid / testsecret)
DOC_RPC = {"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
           "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
           "TimeStamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"}

SIGN = "阿里云短信测试"
# the SMS channel account: the one place of the SMS configuration (sends and callbacks); base_url: the fake's
ACCOUNT = {"platform": "sms", "account": SIGN, "name": "短信",
           "config": {"vendor": "aliyun", "template": "SMS_154950909", "template_param": "code"},
           "secrets": {"key_id": FakeAliyun.access_key_id, "key_secret": FakeAliyun.secret,
                       "callback_token": "push-token-123"}}


def sms_account(ctx: Any, url: str, **changes: Any) -> Any:
    """The fake vendor's SMS account saved (``changes``: top-level fields, or ``config``/``secrets`` merged)."""
    data = {**ACCOUNT, **{k: v for k, v in changes.items() if k not in ("config", "secrets")},
            "config": {**ACCOUNT["config"], "base_url": url, **changes.get("config", {})},
            "secrets": {**ACCOUNT["secrets"], **changes.get("secrets", {})}}
    return accounts.save_account(ctx, data)


def vendor_ctx(ctx: Any, row: Any) -> Any:
    """The context the vendor module is given: the account's settings only (as the channel and callback give)."""
    return AccountContext(ctx, sms_settings(row)[1], own=("SMS_",))


@pytest.fixture
def fake() -> Any:
    vendor = FakeAliyun()
    yield vendor
    vendor.stop()


@pytest.fixture
def account(ctx: Any, fake: FakeAliyun) -> Any:
    return sms_account(ctx, fake.url)


@pytest.fixture
def vctx(ctx: Any, account: Any) -> Any:
    return vendor_ctx(ctx, account)


def msg(rid: int, phone: str, text: str | None = "123456", subject: str = "") -> Outgoing:
    return Outgoing(recipient_id=rid, address=phone, subject=subject, html=None, text=text, message_id=f"<m{rid}@crm>")


def test_signature_matches_alibabas_worked_examples():
    assert sms_aliyun.string_to_sign("GET", DOC_SMS) == DOC_SMS_STRING_TO_SIGN
    assert sms_aliyun.signature("GET", DOC_SMS, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert sms_aliyun.signature("GET", DOC_RPC, "testsecret") == "CT9X0VtwR86fNWSnsc6v8YGOjuE="
    # Signature itself never takes part; another secret or method gives another signature
    assert sms_aliyun.signature("GET", {**DOC_SMS, "Signature": "x"}, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert sms_aliyun.signature("POST", DOC_SMS, "testSecret") != "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert sms_aliyun.signature("GET", DOC_SMS, "otherSecret") != "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_pop_percent_encoding():
    assert sms_aliyun.pe("a b*c~d/e=f&g+h") == "a%20b%2Ac~d%2Fe%3Df%26g%2Bh"
    assert sms_aliyun.pe("派") == "%E6%B4%BE"


def test_send_batch_and_single_through_the_fake(ctx, fake, account):
    provider = SmsChannel()
    assert provider.configured(ctx) is None
    out = provider.send(ctx, [msg(1, "+8613800138000", "111111"), msg(2, "+8613900139000", "222222")])
    assert [(o.recipient_id, o.ok) for o in out] == [(1, True), (2, True)]
    assert {(s["phone"], s["params"]["code"], s["action"]) for s in fake.sent} == {
        ("13800138000", "111111", "SendBatchSms"), ("13900139000", "222222", "SendBatchSms")}
    # one message, a template named by the message (its subject) with a JSON object of parameters
    out = provider.send(ctx, [msg(3, "+8613700137000", '{"name": "王芳", "coupon": "VIP88"}', subject="SMS_200000001")])
    assert out[0].ok
    last = fake.sent[-1]
    assert last == {**last, "action": "SendSms", "template": "SMS_200000001", "phone": "13700137000",
                    "params": {"name": "王芳", "coupon": "VIP88"}, "out_id": "<m3@crm>", "sign": "阿里云短信测试"}


def test_vendor_errors_are_per_message_reasons(ctx, fake, account):
    provider = SmsChannel()
    fake.limited.add("13900139000")
    out = provider.send(ctx, [msg(1, "+8613800138000"), msg(2, "+8613900139000"), msg(3, "+85261234567")])
    # the batch was refused for one number: each was then sent alone, so only the bad ones fail
    assert out[0].ok and not out[1].ok and not out[2].ok
    assert "isv.BUSINESS_LIMIT_CONTROL" in out[1].error and "limit" in out[1].error
    assert "isv.MOBILE_NUMBER_ILLEGAL" in out[2].error and "not a valid mobile number" in out[2].error
    assert [s["phone"] for s in fake.sent] == ["13800138000"]
    calls = len(fake.calls)
    out = provider.send(ctx, [msg(4, "+8613800138000", "x", subject="SMS_999"), msg(5, "+8613700137000", "y", subject="SMS_999")])
    assert not out[0].ok and "not approved" in out[0].error and "isv.SMS_TEMPLATE_ILLEGAL" in out[0].error
    assert out[1].error == out[0].error and len(fake.calls) == calls + 1  # the same for all: no call per message
    out = provider.send(ctx, [msg(5, "+8613800138000", '{"name": "x"}', subject="SMS_200000001")])
    assert "isv.TEMPLATE_MISSING_PARAMETERS" in out[0].error
    out = provider.send(ctx, [msg(6, "+8613800138000", '["a", "b"]')])
    assert not out[0].ok and "JSON object" in out[0].error


def test_wrong_secret_and_sign_name_are_clear(ctx, fake):
    row = sms_account(ctx, fake.url, secrets={"key_secret": "wrong"})
    out = SmsChannel().send(ctx, [msg(1, "+8613800138000")])
    assert not out[0].ok and "SignatureDoesNotMatch" in out[0].error and "wrong" not in out[0].error
    accounts.delete_account(ctx, row.id)
    sms_account(ctx, fake.url, account="别的签名")
    out = SmsChannel().send(ctx, [msg(1, "+8613800138000")])
    assert "isv.SMS_SIGNATURE_ILLEGAL" in out[0].error
    assert fake.sent == []


def test_down_or_throttled_raises_channel_down_without_secrets(ctx, fake, vctx, caplog):
    caplog.set_level(logging.DEBUG)
    fake.down = True
    with pytest.raises(ChannelDown) as down:
        SmsChannel().send(ctx, [msg(1, "+8613800138000")])
    fake.down, fake.throttled = False, True
    with pytest.raises(ChannelDown) as throttled:
        SmsChannel().send(ctx, [msg(1, "+8613800138000"), msg(2, "+8613900139000")])
    assert "Throttling.User" in str(throttled.value)
    fake.stop()
    with pytest.raises(ChannelDown) as refused:
        SmsChannel().send(ctx, [msg(1, "+8613800138000")])
    for text in (str(down.value), str(throttled.value), str(refused.value), caplog.text,
                 repr(sms_aliyun.AliyunSms().client(vctx))):
        assert FakeAliyun.secret not in text and "Signature=" not in text


def test_down_midway_keeps_what_went(ctx, fake, account, monkeypatch):
    """A vendor that fails after some messages went: those are sent, the rest retried later (no duplicates)."""
    fake.limited.add("13900139000")  # the batch falls back to one call per message
    real = sms_aliyun.AliyunClient.call
    calls = {"n": 0}

    def flaky(self, action, params):
        calls["n"] += 1
        if calls["n"] == 4:  # the batch, then message 1 and 2 alone; the vendor fails on message 3
            fake.down = True
        return real(self, action, params)

    monkeypatch.setattr(sms_aliyun.AliyunClient, "call", flaky)
    out = SmsChannel().send(ctx, [msg(1, "+8613800138000"), msg(2, "+8613900139000"), msg(3, "+8613700137000")])
    assert [(o.ok, o.error) for o in out][0] == (True, None)
    assert not out[1].ok and "isv.BUSINESS_LIMIT_CONTROL" in out[1].error
    assert (out[2].ok, out[2].error) == (False, "retry")


def test_not_configured_says_what_to_add(ctx, fake):
    assert "SMS channel account" in SmsChannel().configured(ctx)
    sms_account(ctx, fake.url, secrets={"key_secret": None})  # an account without its keys sends nothing
    out = SmsChannel().send(ctx, [msg(1, "+8613800138000")])
    assert not out[0].ok and "SMS channel account" in out[0].error and fake.calls == []


def test_sends_read_the_account_only_never_the_settings(make_app, fake):
    """The CRM_SMS_* settings of before are no fallback: without an account nothing goes; with one, its sign
    name, keys, template and address are used, whatever the settings say."""
    old = {"SMS_VENDOR": "aliyun", "SMS_ALIYUN_ACCESS_KEY_ID": FakeAliyun.access_key_id,
           "SMS_ALIYUN_ACCESS_KEY_SECRET": FakeAliyun.secret, "SMS_ALIYUN_SIGN_NAME": "别的签名",
           "SMS_ALIYUN_TEMPLATE": "SMS_300000001", "SMS_ALIYUN_ENDPOINT": fake.url}
    app = make_app(**old)
    ctx = app.extensions["crm"].context()
    try:
        assert "SMS channel account" in SmsChannel().configured(ctx)
        out = SmsChannel().send(ctx, [msg(1, "+8613800138000")])
        assert not out[0].ok and fake.calls == []
        row = sms_account(ctx, fake.url, config={"template": ""})
        out = SmsChannel().send(ctx, [msg(2, "+8613800138000")])  # no template on the account: the setting is not one
        assert not out[0].ok and "default template" in out[0].error and fake.calls == []
        accounts.save_account(ctx, {"config": {**ACCOUNT["config"], "base_url": fake.url}}, row)
        out = SmsChannel().send(ctx, [msg(3, "+8613800138000")])
        assert out[0].ok
        assert (fake.sent[-1]["sign"], fake.sent[-1]["template"], fake.sent[-1]["params"]) == (
            SIGN, "SMS_154950909", {"code": "123456"})
    finally:
        ctx.session.close()


def test_receipts_and_replies_from_the_push(ctx, fake, vctx):
    SmsChannel().send(ctx, [msg(1, "+8613800138000"), msg(2, "+8613900139000")])
    items = sms_aliyun.receive(vctx, {"token": "push-token-123"}, fake.report_push())
    assert [(i.kind, i.event, i.sender, i.platform) for i in items] == [
        ("receipt", "delivered", "+8613800138000", "sms"), ("receipt", "delivered", "+8613900139000", "sms")]
    assert items[0].received_at.tzinfo is not None and items[0].account == "阿里云短信测试"
    again = sms_aliyun.receive(vctx, {"token": "push-token-123"}, fake.report_push())
    assert [i.msg_id for i in again] == [i.msg_id for i in items]  # a repeated push has the same dedupe keys
    failed = sms_aliyun.receive(vctx, {"token": "push-token-123"}, fake.report_push(delivered=False))
    assert failed[0].event == "failed" and "MK:0001" in failed[0].text
    reply = sms_aliyun.receive(vctx, {"token": "push-token-123"}, fake.up_push("13800138000", "TD"))
    assert (reply[0].kind, reply[0].text, reply[0].sender, reply[0].msg_id, reply[0].event) == (
        "text", "TD", "+8613800138000", "aliyun:up:1234567890", "unsubscribe")  # an opt-out reply
    chat = sms_aliyun.receive(vctx, {"token": "push-token-123"}, fake.up_push("13800138000", "TD是什么意思？", 2))
    assert chat[0].event is None
    assert reply[0].received_at.isoformat() == "2026-12-06T02:00:00+00:00"  # Beijing time, stored as UTC


def test_forged_or_broken_pushes_are_refused(ctx, fake, vctx):
    body = fake.up_push("13800138000", "hi")
    with pytest.raises(AuthenticationRequired):
        sms_aliyun.receive(vctx, {}, body)
    with pytest.raises(AuthenticationRequired):
        sms_aliyun.receive(vctx, {"token": "push-token-12"}, body)
    with pytest.raises(BadRequest):
        sms_aliyun.receive(vctx, {"token": "push-token-123"}, b"<xml/>")
    with pytest.raises(BadRequest):
        sms_aliyun.receive(vctx, {"token": "push-token-123"}, b'{"phone_number": "1"}')
    with pytest.raises(BadRequest):
        sms_aliyun.receive(vctx, {"token": "push-token-123"}, b'[{"phone_number": "13800138000", "success": true}]')
    row = sms_account(ctx, fake.url, account="无回调", secrets={"callback_token": None})
    assert "callback_token" not in (row.secrets or {})
    with pytest.raises(NotFound):  # not set up: as if the URL did not exist (the app's setting is no fallback)
        sms_aliyun.receive(vendor_ctx(ctx, row), {"token": ""}, body)
