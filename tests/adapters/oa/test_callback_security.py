"""Every OA provider's callback endpoint, through the real route: a provider that is not configured
is a 404; an unsigned, badly signed, stale or replayed callback is refused and stores nothing; a
valid one is accepted once. The keys are the vendors' published test keys (DingTalk's callback
crypto sample, WeCom's WXBizMsgCrypt sample, Feishu's "test key"); their published, correctly
signed requests are refused today because their timestamps are years old."""
from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from adapters import crypto
from adapters.oa.webhook import sign
from adapters.oa import settings as oa_settings
from adapters.oa.models import OACallback, OANonce

from .test_crypto_vectors import DING, WECOM, WECOM_MSG, WECOM_URL

PLUGINS = ["plugins.sales", "adapters.oa"]


class Webhook:
    name = "webhook"
    secret = "s3cret-shared-with-the-oa"
    settings = ({"base_url": "http://127.0.0.1:9"}, {"secret": secret})

    @classmethod
    def request(cls, ts: str, nonce: str, *, key: str | None = None, signed: bool = True,
                status: str = "approved") -> dict[str, Any]:
        body = json.dumps({"event_id": secrets.token_hex(4), "approval_id": "AP-1", "status": status}).encode()
        headers = {"Content-Type": "application/json"}
        if signed:
            headers.update({"X-OA-Timestamp": ts, "X-OA-Nonce": nonce,
                            "X-OA-Signature": sign(key or cls.secret, ts, nonce, body)})
        return {"path": "/oa/webhook/callback", "data": body, "headers": headers}

    @staticmethod
    def now() -> str:
        return str(int(time.time()))


class Ding:
    name = "dingtalk"
    settings = ({"base_url": "http://127.0.0.1:9", "app_key": DING["app_key"], "process_code": "P"},
                {"app_secret": "x", "token": DING["token"], "aes_key": DING["aes_key"]})

    @staticmethod
    def request(ts: str, nonce: str, *, key: str | None = None, signed: bool = True,
                status: str = "agree") -> dict[str, Any]:
        event = {"EventType": "bpms_instance_change", "processInstanceId": "PI-1", "type": "finish", "result": status}
        encrypted = crypto.wx_encrypt(DING["aes_key"], json.dumps(event), DING["app_key"])
        query = {"timestamp": ts, "nonce": nonce}
        if signed:
            query["signature"] = crypto.sha1_signature(key or DING["token"], ts, nonce, encrypted)
        return {"path": f"/oa/dingtalk/callback?{urlencode(query)}", "data": json.dumps({"encrypt": encrypted}),
                "headers": {"Content-Type": "application/json"}}

    @staticmethod
    def now() -> str:
        return str(int(time.time() * 1000))


class WeCom:
    name = "wecom"
    settings = ({"base_url": "http://127.0.0.1:9", "corp_id": WECOM["corp_id"], "template_id": "t"},
                {"corp_secret": "x", "token": WECOM["token"], "encoding_aes_key": WECOM["aes_key"]})

    @staticmethod
    def request(ts: str, nonce: str, *, key: str | None = None, signed: bool = True,
                status: str = "2") -> dict[str, Any]:
        inner = (f"<xml><ToUserName><![CDATA[{WECOM['corp_id']}]]></ToUserName><Event><![CDATA[sys_approval_change]]>"
                 f"</Event><ApprovalInfo><SpNo>202600001</SpNo><SpStatus>{status}</SpStatus>"
                 f"<StatuChangeEvent>{status}</StatuChangeEvent></ApprovalInfo></xml>")
        encrypted = crypto.wx_encrypt(WECOM["aes_key"], inner, WECOM["corp_id"])
        query = {"timestamp": ts, "nonce": nonce}
        if signed:
            query["msg_signature"] = crypto.sha1_signature(key or WECOM["token"], ts, nonce, encrypted)
        body = f"<xml><ToUserName><![CDATA[{WECOM['corp_id']}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return {"path": f"/oa/wecom/callback?{urlencode(query)}", "data": body.encode(),
                "headers": {"Content-Type": "text/xml"}}

    @staticmethod
    def now() -> str:
        return str(int(time.time()))


class Feishu:
    name = "feishu"
    key, token = "test key", "v-token"
    settings = ({"base_url": "http://127.0.0.1:9", "app_id": "cli_1", "approval_code": "A"},
                {"app_secret": "x", "encrypt_key": key, "verification_token": token})

    @classmethod
    def request(cls, ts: str, nonce: str, *, key: str | None = None, signed: bool = True,
                status: str = "APPROVED", payload: dict[str, Any] | None = None) -> dict[str, Any]:
        payload = payload or {"schema": "2.0", "header": {"event_id": secrets.token_hex(8), "token": cls.token,
                                                          "event_type": "approval_instance"},
                              "event": {"type": "approval_instance", "instance_code": "INST-1", "status": status}}
        body = json.dumps({"encrypt": crypto.feishu_encrypt(cls.key, json.dumps(payload))}).encode()
        headers = {"Content-Type": "application/json"}
        if signed:
            headers.update({"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                            "X-Lark-Signature": crypto.feishu_signature(ts, nonce, key or cls.key, body)})
        return {"path": "/oa/feishu/callback", "data": body, "headers": headers}

    @staticmethod
    def now() -> str:
        return str(int(time.time()))


PROVIDERS = [Webhook, Ding, WeCom, Feishu]


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(PLUGINS=PLUGINS, OA_PROCESS_INLINE=False)


def configure(ctx: Any, provider: Any) -> None:
    config, secrets_ = provider.settings
    oa_settings.save_provider_settings(ctx, provider.name, config, secrets_)


def post(client: Any, req: dict[str, Any]) -> Any:
    return client.post(req["path"], data=req["data"], headers=req["headers"])


def stored(ctx: Any) -> int:
    ctx.session.expire_all()
    return ctx.session.query(OACallback).count()


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_a_provider_that_is_not_configured_is_a_404(provider, client, ctx):
    req = provider.request(provider.now(), "n-1")
    r = post(client, req)
    assert r.status_code == 404 and r.json == {"error": "unknown provider"}
    # the same answer as a provider that does not exist: nothing tells which ones are loaded
    assert client.post("/oa/no-such-provider/callback", data=req["data"]).json == r.json
    assert client.get(req["path"]).status_code == 404
    assert stored(ctx) == 0


def test_feishu_unsigned_plaintext_is_refused_configured_or_not(client, ctx):
    """The defect: with Feishu not configured, a plaintext event was accepted and stored."""
    event = {"schema": "2.0", "header": {"event_type": "approval_instance"},
             "event": {"type": "approval_instance", "instance_code": "INST-1", "status": "APPROVED"}}
    assert client.post("/oa/feishu/callback", json=event).status_code == 404
    configure(ctx, Feishu)
    assert client.post("/oa/feishu/callback", json=event).status_code == 401
    assert client.post("/oa/feishu/callback", json={**event, "token": Feishu.token}).status_code == 401
    assert stored(ctx) == 0


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_unsigned_badly_signed_stale_and_replayed_callbacks_are_refused(provider, client, ctx):
    configure(ctx, provider)
    refused = [
        provider.request(provider.now(), "n-unsigned", signed=False),                 # unsigned
        provider.request(provider.now(), "n-bad", key="not-the-key"),                 # bad signature
        provider.request(str(int(provider.now()) - 3600 * (1000 if provider is Ding else 1)), "n-stale"),  # an hour old
        provider.request(str(int(provider.now()) + 3600 * (1000 if provider is Ding else 1)), "n-future"),
        provider.request(provider.now(), ""),                                         # no nonce
        provider.request(provider.now(), "n" * 200),                                  # an over-long nonce
    ]
    for req in refused:
        r = post(client, req)
        assert r.status_code == 401, (req, r.get_data(as_text=True))
    assert stored(ctx) == 0

    valid = provider.request(provider.now(), "n-good")
    r = post(client, valid)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert stored(ctx) == 1
    # the same bytes again: a replay, refused before anything is stored or processed
    r = post(client, valid)
    assert r.status_code == 401 and r.json == {"error": "replayed nonce"}
    assert stored(ctx) == 1
    # a fresh nonce with the same event: acknowledged (the platform retries) and deduplicated
    assert post(client, provider.request(provider.now(), "n-retry")).status_code == 200
    assert stored(ctx) == 1


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_a_replay_to_another_process_is_refused_too(provider, make_app, client, ctx):
    """Nonces live in the database, so a second app (another worker or machine) refuses the replay."""
    configure(ctx, provider)
    req = provider.request(provider.now(), "n-shared")
    assert post(client, req).status_code == 200
    other = make_app(PLUGINS=PLUGINS, OA_PROCESS_INLINE=False).test_client()
    r = post(other, req)
    assert r.status_code == 401 and r.json == {"error": "replayed nonce"}
    assert stored(ctx) == 1


def test_nonces_are_remembered_longer_than_the_vendors_retry_schedules(client, ctx):
    """Feishu retries after 5 s, 5 min, 1 h and 6 h: a nonce older than a day is still known; pruning
    only drops nonces older than the memory (two days, or twice a longer replay window)."""
    import datetime as dt

    configure(ctx, Webhook)
    req = Webhook.request(Webhook.now(), "n-old")
    assert post(client, req).status_code == 200
    ctx.session.expire_all()
    row = ctx.session.query(OANonce).one()
    row.seen_at = row.seen_at - dt.timedelta(hours=30)
    ctx.session.commit()
    post(client, Webhook.request(Webhook.now(), "n-new"))  # prunes what is past the memory
    ctx.session.expire_all()
    assert {n.nonce for n in ctx.session.query(OANonce)} == {"n-old", "n-new"}
    from adapters.oa.webhook import WebhookProvider

    assert WebhookProvider().nonce_memory() == 2 * 86400
    assert WebhookProvider(config={"replay_window": 5 * 86400}).nonce_memory() == 10 * 86400


def test_the_vendors_published_requests_verify_but_are_too_old(client, ctx):
    """DingTalk's and WeCom's published sample requests pass the signature check (so the crypto is the
    vendors') and are refused for their timestamps, years outside the replay window."""
    configure(ctx, Ding)
    query = urlencode({"signature": DING["signature"], "timestamp": DING["timestamp"], "nonce": DING["nonce"]})
    r = client.post(f"/oa/dingtalk/callback?{query}", json={"encrypt": DING["encrypt"]})
    assert r.status_code == 401 and r.json == {"error": "timestamp outside the replay window"}

    configure(ctx, WeCom)
    query = urlencode({"msg_signature": WECOM_MSG["signature"], "timestamp": WECOM_MSG["timestamp"],
                       "nonce": WECOM_MSG["nonce"]})
    body = f"<xml><ToUserName><![CDATA[{WECOM['corp_id']}]]></ToUserName><Encrypt><![CDATA[{WECOM_MSG['encrypt']}]]></Encrypt></xml>"
    r = client.post(f"/oa/wecom/callback?{query}", data=body, headers={"Content-Type": "text/xml"})
    assert r.status_code == 401 and r.json == {"error": "timestamp outside the replay window"}
    r = client.get("/oa/wecom/callback", query_string={"msg_signature": WECOM_URL["signature"],
                                                        "timestamp": WECOM_URL["timestamp"],
                                                        "nonce": WECOM_URL["nonce"], "echostr": WECOM_URL["echostr"]})
    assert r.status_code == 401 and r.json == {"error": "timestamp outside the replay window"}
    assert stored(ctx) == 0


def test_wecom_url_check_is_signed_fresh_and_not_replayed(client, ctx):
    configure(ctx, WeCom)
    encrypted = crypto.wx_encrypt(WECOM["aes_key"], "1616140317555161061", WECOM["corp_id"])
    ts = WeCom.now()
    query = {"msg_signature": crypto.sha1_signature(WECOM["token"], ts, "263014780", encrypted), "timestamp": ts,
             "nonce": "263014780", "echostr": encrypted}
    r = client.get("/oa/wecom/callback", query_string=query)
    assert r.status_code == 200 and r.get_data(as_text=True) == "1616140317555161061"
    assert client.get("/oa/wecom/callback", query_string=query).status_code == 401  # replayed
    bad = {**query, "nonce": "1", "msg_signature": "0" * 40}
    assert client.get("/oa/wecom/callback", query_string=bad).status_code == 401


def test_feishu_url_challenge_needs_encryption_and_the_token(client, ctx):
    configure(ctx, Feishu)
    challenge = {"challenge": "ajls384kdjx98XX", "token": Feishu.token, "type": "url_verification"}
    # Feishu does not sign the URL check: encrypted with our key and carrying our token is the proof
    r = post(client, Feishu.request("", "", signed=False, payload=challenge))
    assert r.status_code == 200 and r.json == {"challenge": "ajls384kdjx98XX"}
    # signed, it is checked like any callback (and a replay is refused)
    signed = Feishu.request(Feishu.now(), "n-challenge", payload=challenge)
    r = post(client, signed)
    assert r.status_code == 200 and r.json == {"challenge": "ajls384kdjx98XX"}
    assert post(client, signed).status_code == 401
    # refused: plaintext, another token, another key; all with the same answer (no padding oracle)
    answers = set()
    for req in (
        {"path": "/oa/feishu/callback", "data": json.dumps(challenge), "headers": {"Content-Type": "application/json"}},
        Feishu.request("", "", signed=False, payload={**challenge, "token": "someone-else"}),
        {"path": "/oa/feishu/callback", "headers": {"Content-Type": "application/json"},
         "data": json.dumps({"encrypt": crypto.feishu_encrypt("other key", json.dumps(challenge))})},
        {"path": "/oa/feishu/callback", "headers": {"Content-Type": "application/json"},
         "data": json.dumps({"encrypt": "AAAA" * 12})},
    ):
        r = post(client, req)
        assert r.status_code == 401
        answers.add(r.get_data(as_text=True))
    assert len(answers) == 1
    assert stored(ctx) == 0


def test_a_provider_that_skips_a_check_is_refused(make_app):
    """A third-party provider whose parse_callback forgets the nonce check gets nothing through."""
    from types import SimpleNamespace

    from adapters.oa.base import OACallbackEvent, OAProvider
    from crmcore import hookimpl

    class Careless(OAProvider):
        name = "careless"
        secret_fields = ("secret",)
        callback_settings = ("secret",)

        def parse_callback(self, request, remember_nonce):
            self.mark_signed()
            self.check_timestamp(request.headers.get("X-Ts", ""))
            return [OACallbackEvent(dedupe_key="careless:1", external_id="1", event_type="x", status_hint="", payload={})]

    plugin = SimpleNamespace(crm_register_oa_providers=hookimpl(lambda: [Careless]))
    app = make_app(plugins=[("careless", plugin)], PLUGINS=PLUGINS, OA_PROCESS_INLINE=False,
                   OA={"careless": {"secret": "s"}})
    client = app.test_client()
    r = client.post("/oa/careless/callback", data=b"{}", headers={"X-Ts": str(int(time.time()))})
    assert r.status_code == 401 and r.json == {"error": "the callback was not verified"}
    ctx = app.extensions["crm"].context(source="test")
    try:
        assert ctx.session.query(OACallback).count() == 0
    finally:
        ctx.session.close()


LAUGHS = ('<!DOCTYPE xml [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
          '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
          '<xml><Encrypt>&d;</Encrypt></xml>')
XML_ATTACKS = {
    "internal entity": '<!DOCTYPE xml [<!ENTITY e "INJECTED">]><xml><Encrypt>&e;</Encrypt></xml>',
    "external entity (XXE)": '<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>',
    "external DTD": '<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd"><xml><Encrypt>x</Encrypt></xml>',
    "billion laughs": LAUGHS,
}
ENCODINGS = {"utf-8": "utf-8", "utf-16 (BOM)": "utf-16", "utf-16-le": "utf-16-le", "utf-16-be": "utf-16-be"}


@pytest.mark.parametrize("encoding", ENCODINGS, ids=list(ENCODINGS))
@pytest.mark.parametrize("attack", XML_ATTACKS, ids=list(XML_ATTACKS))
def test_wecom_refuses_doctype_and_entities_in_any_encoding(attack, encoding, client, ctx):
    """The defect: a UTF-16 body has no b"<!DOCTYPE" in its bytes, so the string guard let entities
    through to the parser. Now the parser itself refuses any DOCTYPE, before any signature check."""
    configure(ctx, WeCom)
    codec = ENCODINGS[encoding]
    declaration = f'<?xml version="1.0" encoding="{"UTF-8" if codec == "utf-8" else "UTF-16"}"?>'
    body = (declaration + XML_ATTACKS[attack]).encode(codec)
    assert b"<!DOCTYPE" not in body or codec == "utf-8"
    ts, nonce = WeCom.now(), "n-xml"
    query = urlencode({"timestamp": ts, "nonce": nonce, "msg_signature": crypto.sha1_signature(
        WECOM["token"], ts, nonce, "INJECTED")})
    r = client.post(f"/oa/wecom/callback?{query}", data=body, headers={"Content-Type": "text/xml"})
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.json == {"error": "the body is not acceptable XML (no DOCTYPE or entities)"}
    assert "lol" not in r.get_data(as_text=True) and "root:" not in r.get_data(as_text=True)
    assert stored(ctx) == 0


def test_wecom_refuses_entities_inside_a_correctly_signed_message(client, ctx):
    """The decrypted message is parsed with the same defused parser."""
    configure(ctx, WeCom)
    inner = ('<!DOCTYPE xml [<!ENTITY sp "202600001">]><xml><Event>sys_approval_change</Event><ApprovalInfo>'
             '<SpNo>&sp;</SpNo><SpStatus>2</SpStatus></ApprovalInfo></xml>')
    encrypted = crypto.wx_encrypt(WECOM["aes_key"], inner, WECOM["corp_id"])
    ts, nonce = WeCom.now(), "n-inner"
    query = urlencode({"timestamp": ts, "nonce": nonce,
                       "msg_signature": crypto.sha1_signature(WECOM["token"], ts, nonce, encrypted)})
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode("utf-16")
    r = client.post(f"/oa/wecom/callback?{query}", data=body, headers={"Content-Type": "text/xml"})
    assert r.status_code == 400 and stored(ctx) == 0
    # the same message without the DOCTYPE, sent as UTF-16, is accepted: the encoding is not the problem
    inner = inner.split("]>", 1)[1].replace("&sp;", "202600001")
    encrypted = crypto.wx_encrypt(WECOM["aes_key"], inner, WECOM["corp_id"])
    query = urlencode({"timestamp": ts, "nonce": "n-inner-2",
                       "msg_signature": crypto.sha1_signature(WECOM["token"], ts, "n-inner-2", encrypted)})
    body = f'<?xml version="1.0" encoding="UTF-16"?><xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>'.encode("utf-16")
    r = client.post(f"/oa/wecom/callback?{query}", data=body, headers={"Content-Type": "text/xml"})
    assert r.status_code == 200 and stored(ctx) == 1
