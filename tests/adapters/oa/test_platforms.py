"""DingTalk, WeCom and Feishu providers over HTTP against the local platform stand-ins
(tests/adapters/oa/platforms.py): tokens, create, get, find, callbacks with the platform's crypto
and acknowledgement, and duplicate, replayed, late, out-of-order and badly signed callbacks."""
from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.oa import delivery as oa_delivery
from adapters.oa import settings as oa_settings
from adapters.oa.models import OACallback
from crmcore.models import ApprovalRequest
from crmcore.services import approvals, jobs
from plugins.sales.models import Quote

from .platforms import FakeDingTalk, FakeFeishu, FakeWeCom
from .test_quote_approval import new_quote, policy, submit


class Ding:
    name, fake_cls = "dingtalk", FakeDingTalk

    @staticmethod
    def settings(fake: Any) -> tuple[dict, dict]:
        return ({"base_url": fake.url, "app_key": fake.app_key, "process_code": "PROC-QUOTE", "dept_id": 1},
                {"app_secret": fake.app_secret, "token": fake.token, "aes_key": fake.aes_key})

    @staticmethod
    def decide(fake, ext, approve, comment=None):
        return fake.decide(ext, "agree" if approve else "refuse", comment=comment)

    @staticmethod
    def late_pending(fake, ext):
        return fake.callback({"EventType": "bpms_instance_change", "processInstanceId": ext, "type": "start"})

    @staticmethod
    def bad_signature(fake, ext):
        return fake.callback({"EventType": "bpms_instance_change", "processInstanceId": ext, "type": "finish",
                              "result": "agree"}, token="not-the-token", attempts=1)

    @staticmethod
    def stale(fake, ext):
        return fake.callback({"EventType": "bpms_instance_change", "processInstanceId": ext, "type": "finish",
                              "result": "agree"}, timestamp=str(int(time.time() * 1000) - 3_600_000), attempts=1)

    @staticmethod
    def duplicate(fake, ext):
        return fake.callback({"EventType": "bpms_instance_change", "processInstanceId": ext, "type": "finish",
                              "result": "agree"})


class WeCom:
    name, fake_cls = "wecom", FakeWeCom

    @staticmethod
    def settings(fake):
        return ({"base_url": fake.url, "corp_id": fake.corp_id, "template_id": "tmpl-quote"},
                {"corp_secret": fake.corp_secret, "token": fake.token, "encoding_aes_key": fake.aes_key})

    @staticmethod
    def decide(fake, ext, approve, comment=None):
        return fake.decide(ext, 2 if approve else 3, comment=comment)

    @staticmethod
    def late_pending(fake, ext):
        return fake.callback(ext, 1)

    @staticmethod
    def bad_signature(fake, ext):
        return fake.callback(ext, 2, token="not-the-token", attempts=1)

    @staticmethod
    def stale(fake, ext):
        return fake.callback(ext, 2, timestamp=str(int(time.time()) - 3600), attempts=1)

    @staticmethod
    def duplicate(fake, ext):
        return fake.callback(ext, 2)


class Feishu:
    name, fake_cls = "feishu", FakeFeishu

    @staticmethod
    def settings(fake):
        return ({"base_url": fake.url, "app_id": fake.app_id, "approval_code": "APPROVAL-QUOTE"},
                {"app_secret": fake.app_secret, "encrypt_key": fake.encrypt_key,
                 "verification_token": fake.verification_token})

    @staticmethod
    def decide(fake, ext, approve, comment=None):
        return fake.decide(ext, "APPROVED" if approve else "REJECTED", comment=comment)

    @staticmethod
    def _event(fake, ext, status):
        return {"schema": "2.0", "header": {"event_id": "e1", "event_type": "approval_instance",
                                            "token": fake.verification_token},
                "event": {"type": "approval_instance", "instance_code": ext, "status": status}}

    @classmethod
    def late_pending(cls, fake, ext):
        return fake.callback(cls._event(fake, ext, "PENDING"))

    @classmethod
    def bad_signature(cls, fake, ext):
        return fake.callback(cls._event(fake, ext, "APPROVED"), key="not-the-key", attempts=1)

    @classmethod
    def stale(cls, fake, ext):
        return fake.callback(cls._event(fake, ext, "APPROVED"), timestamp=str(int(time.time()) - 3600), attempts=1)

    @classmethod
    def duplicate(cls, fake, ext):
        return fake.callback(cls._event(fake, ext, "APPROVED"))


PLATFORMS = [Ding, WeCom, Feishu]


@pytest.fixture
def platform_app(served):
    return served


def setup(platform: Any, served: str, ctx: Any) -> Any:
    fake = platform.fake_cls(f"{served}/oa/{platform.name}/callback")
    config, secrets = platform.settings(fake)
    oa_settings.save_provider_settings(ctx, platform.name, config, secrets)
    approvals.create_policy(ctx, policy(platform.name))
    return fake


def run(rt: Any, sessions: Any, name: str) -> None:
    assert jobs.run_job(rt.context(source="scheduler", session=sessions()), name).last_status == "ok"


def request_of(sessions: Any, quote_id: int) -> ApprovalRequest:
    return sessions().query(ApprovalRequest).filter_by(entity="quote", entity_id=quote_id).one()


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.name)
def test_quote_approval_through_the_platform(platform, served, client, rt, ctx, people, sessions):
    fake = setup(platform, served, ctx)
    try:
        quote_id = new_quote(client, people, "20")
        submit(client, people, quote_id)
        run(rt, sessions, "outbox.deliver")
        (ext,) = fake.instances
        assert request_of(sessions, quote_id).external_id == ext
        assert request_of(sessions, quote_id).status == "pending"
        assert fake.token_requests == 1

        # refused: a wrong signature, a timestamp outside the window
        assert platform.bad_signature(fake, ext).status_code == 401
        assert platform.stale(fake, ext).status_code == 401
        assert sessions().query(OACallback).count() == 0

        ack = platform.decide(fake, ext, True, "ok")
        assert ack.status_code == 200 and fake.acknowledged(ack) and fake.ack_failures == 0
        run(rt, sessions, "approvals.inbox")
        assert sessions().get(Quote, quote_id).status == "approved"
        assert request_of(sessions, quote_id).decisions[-1].comment == "ok"

        # a duplicate is acknowledged and dropped; a byte-for-byte replay is refused; a late
        # "pending" is stored but changes nothing after the authoritative state is fetched
        assert fake.acknowledged(platform.duplicate(fake, ext))
        assert fake.resend(fake.sent[-1]).status_code == 401
        assert fake.acknowledged(platform.late_pending(fake, ext))
        run(rt, sessions, "approvals.inbox")
        statuses = [c.status for c in sessions().query(OACallback).order_by(OACallback.id)]
        assert statuses == ["processed", "ignored"]
        assert sessions().get(Quote, quote_id).status == "approved"
        assert request_of(sessions, quote_id).status == "approved"
    finally:
        fake.stop()


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.name)
def test_rejection_lost_callback_and_expired_token(platform, served, client, rt, ctx, people, sessions):
    fake = setup(platform, served, ctx)
    try:
        quote_id = new_quote(client, people, "25")
        submit(client, people, quote_id)
        run(rt, sessions, "outbox.deliver")
        (ext,) = fake.instances
        fake.callback_url = f"{served}/nowhere"  # the callback gets lost
        platform.decide(fake, ext, False, "too cheap")
        fake.expire_tokens()  # and meanwhile the access token expired
        result = oa_delivery.reconcile(rt.context(source="scheduler", session=sessions()), older_than=0)
        assert result == {"checked": 1, "changed": 1, "failed": 0}
        assert fake.token_requests == 2  # a new token was fetched after the platform refused the old one
        quote = sessions().get(Quote, quote_id)
        assert quote.status == "rejected" and "too cheap" in quote.decision_note
    finally:
        fake.stop()


def test_wecom_url_check_answers_the_decrypted_echo(served, ctx):
    fake = setup(WeCom, served, ctx)
    try:
        r = fake.verify_url("1616140317555161061")
        assert r.status_code == 200 and r.text == "1616140317555161061"
    finally:
        fake.stop()


def test_feishu_url_verification_returns_the_challenge(served, ctx):
    fake = setup(Feishu, served, ctx)
    try:
        r = fake.url_verification()
        assert r.status_code == 200 and r.json() == {"challenge": "ajls384kdjx98XX"}
    finally:
        fake.stop()


def test_dingtalk_check_url_gets_the_encrypted_success(served, ctx):
    fake = setup(Ding, served, ctx)
    try:
        r = fake.callback({"EventType": "check_url"}, attempts=1)
        assert fake.acknowledged(r)
    finally:
        fake.stop()


def test_feishu_repeated_uuid_finds_the_existing_instance(served, ctx):
    fake = setup(Feishu, served, ctx)
    try:
        oa = oa_settings.provider(ctx, "feishu")
        submission = {"idempotency_key": "quote-1-submit-abc", "requester": "rep", "form": {"amount": "800.00"},
                      "template": "APPROVAL-QUOTE"}
        first = oa.submit(submission)
        again = oa.submit(submission)  # the platform answers 60012; the provider finds the instance by uuid
        assert again.external_id == first.external_id and len(fake.instances) == 1
    finally:
        fake.stop()


@pytest.mark.parametrize("platform", [Ding, WeCom], ids=lambda p: p.name)
def test_find_by_key_after_an_unknown_create_outcome(platform, served, ctx):
    fake = setup(platform, served, ctx)
    try:
        oa = oa_settings.provider(ctx, platform.name)
        submission = {"idempotency_key": "quote-7-submit-k1", "requester": "rep", "form": {"amount": "800.00"},
                      "title": "quote 7"}
        created = oa.submit(submission)
        oa.submit({**submission, "idempotency_key": "quote-8-submit-k2"})
        found = oa.find("quote-7-submit-k1")
        assert found is not None and found.external_id == created.external_id and found.status == "pending"
        assert oa.find("quote-9-never-sent") is None
    finally:
        fake.stop()


def test_a_connection_failure_never_carries_the_urls_query_secrets():
    """WeCom puts corpsecret and access_token in the query string; requests' error text carries the
    URL, and the error is stored and shown in the approvals monitor: keep only kind and host."""
    import requests

    from adapters.oa.base import describe

    req = requests.Request("GET", "https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ww1&corpsecret=S3CR3T").prepare()
    exc = requests.ConnectionError("HTTPSConnectionPool: Max retries exceeded with url: "
                                   "/cgi-bin/gettoken?corpid=ww1&corpsecret=S3CR3T", request=req)
    text = describe(exc)
    assert text == "ConnectionError (qyapi.weixin.qq.com)" and "S3CR3T" not in text
