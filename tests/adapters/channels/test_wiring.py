"""The SMS and WeCom adapters wired into the channels plugin: their providers in ``crm_channels`` (a marketing
campaign sends on ``wecom``), their callbacks at ``/channels/<platform>/<account>/callback`` configured by channel
accounts (stored once through the pipeline, replays change nothing), delivery receipts marking marketing's
recipients, SMS opt-out replies, WeCom tag events, and the jobs pulling contacts and group-send results."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from sqlalchemy import select

from adapters.channels import accounts
from adapters.channels import wecom_contact as wc
from adapters.channels.models import ChannelMessage
from crmcore.channels import Outgoing, providers
from crmcore.models import CustomerIdentity, JobExecution
from crmcore.services import identities
from plugins.marketing import models as marketing_models  # noqa: F401 - the tables before the database fixture
from plugins.marketing.models import Consent, MarketingEvent, Recipient, Suppression
from plugins.marketing.services import audiences, campaigns, consent, templates

from .conftest import PLUGINS
from .sms_fakes import FakeAliyun
from .test_sms_aliyun import sms_account as aliyun_account
from .wecom_fake import FakeWeComContact

SIGN = "阿里云短信测试"


@pytest.fixture
def aliyun() -> Any:
    vendor = FakeAliyun()
    yield vendor
    vendor.stop()


@pytest.fixture
def wecom() -> Any:
    fake = FakeWeComContact()
    fake.add_contact("wmA", "李四", "zhangsan", tags=("etVIP",), unionid="ozUNION-A", mobiles=("13800138000",))
    fake.add_contact("wmB", "王芳", "lisi")
    fake.add_contact("wmC", "赵六", "lisi", mobiles=("13900139000",))
    wc._tokens.clear()
    yield fake
    fake.stop()


@pytest.fixture
def app(make_app: Any, aliyun: FakeAliyun, wecom: FakeWeComContact) -> Any:
    return make_app(PLUGINS=[*PLUGINS, "plugins.marketing"])


@pytest.fixture
def sms_account(ctx: Any, aliyun: FakeAliyun) -> Any:
    return aliyun_account(ctx, aliyun.url)


@pytest.fixture
def wecom_account(ctx: Any, wecom: FakeWeComContact) -> Any:
    return accounts.save_account(ctx, {"platform": "wecom", "account": wecom.corp_id, "name": "企业微信",
                                       "config": {"base_url": wecom.url},
                                       "secrets": {"token": wecom.token, "encoding_aes_key": wecom.aes_key,
                                                   "contact_secret": wecom.secret}})


def sms_url(token: str = "push-token-123", sign: str = SIGN) -> str:
    return f"/channels/sms/{quote(sign)}/callback?token={token}"


def campaign_on(ctx: Any, channel: str, people: list[Any], subject: str = "SMS_200000001",
                text: str = '{"name": "{{ customer.name }}", "coupon": "VIP88"}') -> Any:
    for person in people:
        consent.record(ctx, person.id, {"channel": channel, "status": "granted", "source": "form", "text": "同意接收"})
    audience = audiences.create_audience(ctx, {"name": f"{channel} audience", "condition": {
        "field": "stage", "op": "eq", "value": "customer"}})
    template = templates.create_template(ctx, {"name": f"{channel} 模板", "channel": channel, "subject": subject,
                                               "text": text})
    campaign = campaigns.create_campaign(ctx, {"name": f"{channel} 活动", "audience_id": audience.id,
                                               "template_id": template.id, "channel": channel})
    campaigns.start(ctx, campaign.id)
    return campaign


def test_providers_registered_and_a_campaign_sends_on_wecom(ctx, wecom, wecom_account, make_customer):
    assert {"sms", "wecom", "wechat"} <= set(providers(ctx))
    li = make_customer("李四", stage="customer")
    make_customer("没有企业微信", stage="customer")
    with ctx.session.begin_nested():
        identities.record(ctx, li.id, "wecom_external_userid", "wmA", wecom.corp_id)
    ctx.session.commit()
    campaign = campaign_on(ctx, "wecom", [li], subject="会员日", text="双十二会员日，全场八折")
    assert campaigns.send_campaign(ctx, campaign.id) == {"sent": 1}
    [sent] = wecom.templates.values()
    assert sent["text"] == "双十二会员日，全场八折" and list(sent["tasks"]["zhangsan"]) == ["wmA"]
    recipient = ctx.session.scalar(select(Recipient).where(Recipient.campaign_id == campaign.id,
                                                           Recipient.status == "sent"))
    assert recipient.address == "wmA"


def test_sms_receipts_mark_the_recipients_and_replays_change_nothing(client, ctx, aliyun, sms_account, make_customer):
    person = make_customer("王芳", phone="138 0013 8000", stage="customer")
    other = make_customer("李雷", phone="13900139000", stage="lead")
    campaign = campaign_on(ctx, "sms", [person])
    assert campaigns.send_campaign(ctx, campaign.id) == {"sent": 1}
    report = json.loads(aliyun.report_push(delivered=True))
    assert report[0]["out_id"]  # SendSms carries our message id as OutId
    strays = [{**report[0], "phone_number": "13900139000", "biz_id": "stray-1", "out_id": ""},  # no id of ours
              {**report[0], "phone_number": "13900139000", "biz_id": "stray-2", "out_id": "<m999999.0@crm.invalid>"}]
    body = json.dumps(report + strays, ensure_ascii=False).encode()
    res = client.post(sms_url(), data=body, content_type="application/json")
    assert res.status_code == 200 and res.get_json() == {"code": 0, "msg": "接收成功"}
    assert client.post(sms_url(), data=body, content_type="application/json").status_code == 200  # a retry
    ctx.session.expire_all()
    events = ctx.session.scalars(select(MarketingEvent).where(MarketingEvent.kind == "delivered")).all()
    assert [e.customer_id for e in events] == [person.id] and other.id not in {e.customer_id for e in events}
    assert ctx.session.query(ChannelMessage).filter_by(kind="receipt", status="ignored").count() == 3
    assert client.post(sms_url("wrong"), data=body, content_type="application/json").status_code == 401
    assert client.post(sms_url(sign="没有的签名"), data=body, content_type="application/json").status_code == 404


def test_a_failed_sms_receipt_marks_the_recipient_failed(client, ctx, aliyun, sms_account, make_customer):
    person = make_customer("王芳", phone="13800138000", stage="customer")
    campaign = campaign_on(ctx, "sms", [person])
    campaigns.send_campaign(ctx, campaign.id)
    assert client.post(sms_url(), data=aliyun.report_push(delivered=False), content_type="application/json").status_code == 200
    ctx.session.expire_all()
    recipient = ctx.session.scalar(select(Recipient).where(Recipient.customer_id == person.id))
    assert recipient.status == "failed" and "空号" in recipient.reason
    assert [e.kind for e in ctx.session.scalars(select(MarketingEvent))] == ["bounced"]


def test_an_sms_opt_out_reply_withdraws_consent_and_suppresses(client, ctx, aliyun, sms_account, make_customer):
    person = make_customer("王芳", phone="138 0013 8000", stage="customer")
    consent.record(ctx, person.id, {"channel": "sms", "status": "granted", "source": "form", "text": "同意接收"})
    body = aliyun.up_push("13800138000", "退订", sequence_id=77)
    for _ in range(2):  # the vendor's retry changes nothing
        assert client.post(sms_url(), data=body, content_type="application/json").status_code == 200
    ctx.session.expire_all()
    assert consent.latest_status(ctx, person.id, "sms") == "withdrawn"
    assert ctx.session.query(Consent).filter_by(status="withdrawn").count() == 1
    assert [(s.address, s.reason) for s in ctx.session.scalars(select(Suppression))] == [("+8613800138000", "unsubscribed")]
    [message] = ctx.session.query(ChannelMessage).all()
    assert (message.customer_id, message.status) == (person.id, "matched")  # on the timeline too
    # an ordinary reply withdraws nothing
    client.post(sms_url(), data=aliyun.up_push("13800138000", "请问几点开门", sequence_id=78), content_type="application/json")
    assert ctx.session.query(Consent).filter_by(status="withdrawn").count() == 1


def test_a_tencent_reply_goes_through_the_tencent_account(client, ctx, make_customer):
    accounts.save_account(ctx, {"platform": "sms", "account": "腾讯云", "name": "腾讯短信", "config": {"vendor": "tencent"},
                                "secrets": {"callback_token": "cb-token"}})
    person = make_customer("王芳", phone="13800138000", stage="customer")
    consent.record(ctx, person.id, {"channel": "sms", "status": "granted", "source": "form", "text": "同意接收"})
    # Tencent Cloud's SmsReplyPush body (one JSON object), as sms_fakes.FakeTencent.reply_push writes it
    body = json.dumps({"extend": "", "mobile": "13800138000", "nationcode": "86", "sign": "腾讯云", "text": "TD",
                       "time": 1765000000}, ensure_ascii=False).encode()
    url = f"/channels/sms/{quote('腾讯云')}/callback?token=cb-token"
    assert client.post(url, data=body, content_type="application/json").get_json() == {"result": 0, "errmsg": "OK"}
    assert client.post(url, data=body, content_type="application/json").status_code == 200
    assert client.post(url.replace("cb-token", "push-token-123"), data=body,
                       content_type="application/json").status_code == 401  # another account's token
    ctx.session.expire_all()
    assert consent.latest_status(ctx, person.id, "sms") == "withdrawn"
    assert ctx.session.query(ChannelMessage).count() == 1


def test_unknown_sms_vendor_is_refused_in_words(ctx):
    from crmcore.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        accounts.save_account(ctx, {"platform": "sms", "account": "x", "name": "x", "config": {"vendor": "huawei"}})
    assert "config.vendor" in err.value.errors


def wecom_post(client: Any, wecom: FakeWeComContact, inner: str) -> Any:
    args, body = wecom.callback(inner)
    return client.post(f"/channels/wecom/{wecom.corp_id}/callback?{urlencode(args)}", data=body,
                       content_type="application/xml")


def test_wecom_url_check_and_events(client, ctx, wecom, wecom_account, make_customer):
    from adapters import crypto

    encrypted = crypto.wx_encrypt(wecom.aes_key, "echo-42", wecom.corp_id)
    args = {"msg_signature": crypto.sha1_signature(wecom.token, "0", "n1", encrypted), "timestamp": "0", "nonce": "n1",
            "echostr": encrypted}
    assert client.get(f"/channels/wecom/{wecom.corp_id}/callback?{urlencode(args)}").status_code == 401  # stale
    import time

    ts = str(int(time.time()))
    args.update(timestamp=ts, msg_signature=crypto.sha1_signature(wecom.token, ts, "n1", encrypted))
    res = client.get(f"/channels/wecom/{wecom.corp_id}/callback?{urlencode(args)}")
    assert (res.status_code, res.text) == (200, "echo-42")
    known = make_customer("李四")
    with ctx.session.begin_nested():
        identities.record(ctx, known.id, "wecom_external_userid", "wmA", wecom.corp_id)
    ctx.session.commit()
    added = wecom.event_xml("add_external_contact", "zhangsan", "wmA", state="ref_X", at=1765000000)
    assert wecom_post(client, wecom, added).text == "success"
    assert wecom_post(client, wecom, added).text == "success"  # WeCom's retry: a new nonce, the same event
    assert wecom_post(client, wecom, wecom.event_xml("add_external_contact", "lisi", "wmB")).status_code == 200
    assert wecom_post(client, wecom, wecom.tag_event_xml("etNEW")).text == "success"
    ctx.session.expire_all()
    rows = [(m.sender, m.status) for m in ctx.session.scalars(select(ChannelMessage).order_by(ChannelMessage.id))]
    assert rows == [("wmA", "matched"), ("wmB", "unmatched")]  # the tag event is in no queue
    assert [j.name for j in ctx.session.scalars(select(JobExecution))] == ["channels.wecom_contacts"]
    args, body = wecom.callback(added)
    forged = {**args, "msg_signature": "0" * 40}
    assert client.post(f"/channels/wecom/{wecom.corp_id}/callback?{urlencode(forged)}", data=body).status_code == 401


def test_wecom_contacts_job_links_or_creates_customers(ctx, run_job, wecom, wecom_account, make_customer):
    by_phone = make_customer("赵六（老客户）", phone="+86 139 0013 9000")
    run_job("channels.wecom_contacts")  # a failed run fails the test with its error
    ctx.session.expire_all()
    owners = {i.value: i.customer_id for i in ctx.session.scalars(
        select(CustomerIdentity).where(CustomerIdentity.platform == "wecom_external_userid"))}
    assert owners["wmC"] == by_phone.id
    li = identities.find_customer(ctx, "wecom_external_userid", "wmA", wecom.corp_id)
    assert li.name == "李四" and li.source_channel == "wecom" and [t.name for t in li.tags] == [wecom.tag_name("etVIP")]
    assert identities.find_customer(ctx, "wechat_unionid", "ozUNION-A").id == li.id
    run_job("channels.wecom_contacts")  # again: nobody new
    ctx.session.expire_all()
    assert ctx.session.query(CustomerIdentity).filter_by(platform="wecom_external_userid").count() == 3


def test_wecom_group_results_job_marks_recipients(ctx, run_job, wecom, wecom_account, make_customer):
    people = [make_customer("李四", stage="customer"), make_customer("王芳", stage="customer")]
    with ctx.session.begin_nested():
        identities.record(ctx, people[0].id, "wecom_external_userid", "wmA", wecom.corp_id)
        identities.record(ctx, people[1].id, "wecom_external_userid", "wmB", wecom.corp_id)
    ctx.session.commit()
    campaign = campaign_on(ctx, "wecom", people, subject="会员日", text="会员日八折")
    assert campaigns.send_campaign(ctx, campaign.id) == {"sent": 2}
    [msgid] = wecom.templates
    wecom.confirm(msgid, "zhangsan")
    wecom.confirm(msgid, "lisi", quota_reached=("wmB",))
    for _ in range(2):
        run_job("channels.wecom_group_results")
    ctx.session.expire_all()
    kinds = {(e.customer_id, e.kind) for e in ctx.session.scalars(select(MarketingEvent))}
    assert kinds == {(people[0].id, "delivered"), (people[1].id, "bounced")}
    failed = ctx.session.scalar(select(Recipient).where(Recipient.customer_id == people[1].id))
    assert failed.status == "failed"
    assert ctx.session.query(ChannelMessage).filter_by(kind="receipt").count() == 2



def test_wecom_sends_jobs_and_callbacks_read_the_channel_account_only(client, ctx, wecom, monkeypatch):
    """One place for the WeCom configuration: CRM_WECOM_* settings are no fallback for the channel account."""
    from adapters.channels import jobs
    from adapters.channels import wecom_send as ws

    for name, value in {"WECOM_CORP_ID": wecom.corp_id, "WECOM_CONTACT_SECRET": wecom.secret,
                        "WECOM_BASE_URL": wecom.url, "WECOM_CALLBACK_TOKEN": wecom.token,
                        "WECOM_CALLBACK_AES_KEY": wecom.aes_key, "WECOM_SENDER": "nobody"}.items():
        monkeypatch.setitem(ctx.settings, name, value)
    assert "WeCom channel account" in (ws.WeComChannel().configured(ctx) or "")
    assert jobs.wecom_contacts(ctx) == {"linked": 0, "created": 0, "known": 0}  # nothing asked of WeCom
    assert wecom.token_requests == 0
    # an account without its callback secrets: the settings do not stand in (refused, nothing stored)
    row = accounts.save_account(ctx, {"platform": "wecom", "account": wecom.corp_id, "name": "企业微信",
                                      "config": {"base_url": wecom.url}, "secrets": {"contact_secret": wecom.secret}})
    args, body = wecom.callback(wecom.event_xml("add_external_contact", "zhangsan", "wmA"))
    refused = client.post(f"/channels/wecom/{wecom.corp_id}/callback?{urlencode(args)}", data=body,
                          content_type="application/xml")
    assert refused.status_code in (401, 404)
    assert ctx.session.query(ChannelMessage).count() == 0
    # the account's corp, secret and address are used, and its sender (none: each customer's own staff)
    assert ws.WeComChannel().configured(ctx) is None
    assert ws.WeComChannel().client(ctx).corp_id == row.account
    assert jobs.wecom_contacts(ctx)["created"] == 3 and wecom.token_requests == 1
    out = ws.WeComChannel().send(ctx, [Outgoing(recipient_id=1, address="wmA", subject="", html=None, text="会员日",
                                                message_id="<m1@crm>")])
    assert out[0].ok, out[0].error


def test_an_sms_callback_never_takes_the_apps_token(make_app, aliyun):
    """The account is the one place: an account without its callback token is not set up (404), whatever token a
    CRM_SMS_* setting of before holds."""
    from .test_sms_aliyun import sms_account as saved_account

    app = make_app(PLUGINS=PLUGINS, SMS_ALIYUN_CALLBACK_TOKEN="app-token")
    ctx = app.extensions["crm"].context()
    try:
        saved_account(ctx, aliyun.url, secrets={"callback_token": None})
        body = aliyun.up_push("13800138000", "你好")
        res = app.test_client().post(sms_url("app-token"), data=body, content_type="application/json")
        assert res.status_code == 404 and ctx.session.query(ChannelMessage).count() == 0
    finally:
        ctx.session.close()
