"""WeCom customer contact against the protocol-faithful fake (wecom_fake.FakeWeComContact): pulling contacts
with cursor paging, the token cache and refresh, 45009 backoff, tags both ways, group sends and their
results, callbacks verified with the shared crypto (and WeCom's published sample), contacts as CRM data."""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import pytest
from sqlalchemy import select

from adapters.channels import wecom_contact as wc
from adapters.channels import wecom_send as ws
from crmcore.channels import ChannelDown, Outgoing
from crmcore.errors import AuthenticationRequired, BadRequest, NotFound, RetriableAdapterError
from crmcore.models import SyncState

from .wecom_fake import FakeWeComContact

# WeCom's WXBizMsgCrypt sample message (callback documentation): token QDG6eK, corp wx5823bf96d3bd56c7
SAMPLE = {"msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6", "timestamp": "1409659813", "nonce": "1372623149",
          "encrypt": "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/s"
                     "YYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+H"
                     "MZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrX"
                     "JB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m"
                     "3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="}


@pytest.fixture
def fake() -> Any:
    wecom = FakeWeComContact()
    wecom.add_contact("wmA", "李四", "zhangsan", tags=("etVIP",), unionid="ozUNION-A", mobiles=("13800138000",),
                      remark="李部长", state="ref-42", corp_name="腾讯")
    wecom.add_contact("wmA", "李四", "lisi", tags=("etTEA",), createtime=1600000000)
    wecom.add_contact("wmB", "王芳", "lisi")
    for i in range(7):
        wecom.add_contact(f"wmC{i}", f"客户{i}", "zhangsan")
    yield wecom
    wecom.stop()


@pytest.fixture
def app(make_app: Any, fake: FakeWeComContact) -> Any:
    # the callback module's own inputs (the callback route gives it the channel account's, test_wiring.py)
    return make_app(WECOM_CORP_ID=fake.corp_id, WECOM_CALLBACK_TOKEN=fake.token, WECOM_CALLBACK_AES_KEY=fake.aes_key)


@pytest.fixture(autouse=True)
def account(app: Any, ctx: Any, fake: FakeWeComContact) -> Any:
    """The WeCom channel account the sends and jobs read (corp id, customer-contact secret, API address)."""
    from adapters.channels import accounts

    return accounts.save_account(ctx, {"platform": "wecom", "account": fake.corp_id, "name": "企业微信",
                                       "config": {"base_url": fake.url}, "secrets": {"contact_secret": fake.secret}})


@pytest.fixture
def client(fake: FakeWeComContact) -> wc.WeComContactClient:
    wc._tokens.clear()
    waits: list[float] = []
    c = wc.WeComContactClient(fake.corp_id, fake.secret, fake.url, sleep=waits.append)
    c.waits = waits  # type: ignore[attr-defined]
    return c


def msg(rid: int, external: str, text: str = "双十二会员日，全场八折") -> Outgoing:
    return Outgoing(recipient_id=rid, address=external, subject="", html=None, text=text, message_id=f"<m{rid}@crm>")


def test_pull_every_contact_with_cursor_paging(client, fake):
    contacts = client.pull_contacts()
    assert sorted(c["external_contact"]["external_userid"] for c in contacts) == ["wmA", "wmB"] + [f"wmC{i}" for i in range(7)]
    a = next(c for c in contacts if c["external_contact"]["external_userid"] == "wmA")
    assert sorted(f["userid"] for f in a["follow_user"]) == ["lisi", "zhangsan"]  # one customer, both staff
    pages = [call for call in fake.calls if call[0].endswith("batch/get_by_user")]
    assert len(pages) == 1  # 10 rows fit one page of 100
    rows = list(client.batch_by_user(["zhangsan", "lisi"], limit=3))
    assert len(rows) == 10 and len([c for c in fake.calls if c[0].endswith("batch/get_by_user")]) == 1 + 4
    assert client.list_contacts("lisi") == ["wmA", "wmB"]
    fake.follow_page = 1
    detail = client.get_contact("wmA")
    assert [f["userid"] for f in detail["follow_user"]] == ["zhangsan", "lisi"]
    assert {t["tag_name"] for f in detail["follow_user"] for t in f["tags"]} == {"VIP", "茶叶"}


def test_token_cached_refreshed_and_busy_retried(client, fake):
    client.follow_users()
    client.follow_users()
    assert fake.token_requests == 1
    fake.tokens.clear()  # WeCom forgot the token (40014): one new token, the call goes through
    assert client.follow_users() == ["zhangsan", "lisi"]
    assert fake.token_requests == 2
    for token in fake.tokens:
        fake.tokens[token] = time.time() - 1  # expired: 42001
    assert client.follow_users() == ["zhangsan", "lisi"] and fake.token_requests == 3
    fake.busy_next = 2  # 45009 twice: waited 1 s then 2 s, then answered
    assert client.list_contacts("zhangsan")[0] == "wmA"
    assert client.waits == [1.0, 2.0]
    fake.busy_next = 10
    with pytest.raises(RetriableAdapterError, match="45009"):
        client.follow_users()
    wrong = wc.WeComContactClient(fake.corp_id, "wrong", fake.url)
    with pytest.raises(wc.WeComError) as refused:
        wrong.follow_users()
    assert refused.value.errcode == 40001 and "wrong" not in str(refused.value) and "wrong" not in repr(wrong)


def test_contacts_as_customer_and_identity_pairs(client, fake):
    library = client.tag_library()
    assert library["etVIP"] == {"name": "VIP", "group": "客户等级"}
    pairs = dict((i["external_id"], (c, i)) for c, i in wc.to_customers(client.pull_contacts(), fake.corp_id, library))
    customer, identity = pairs["wmA"]
    assert customer == {"name": "李四", "kind": "person", "source_channel": "wecom", "tags": ["VIP", "茶叶"],
                        "phone": "13800138000", "notes": "腾讯有限公司 / Manager"}
    assert identity["platform"] == "wecom" and identity["account"] == fake.corp_id and identity["unionid"] == "ozUNION-A"
    assert [f["userid"] for f in identity["follow_users"]] == ["zhangsan", "lisi"]  # first added first
    assert identity["follow_users"][0]["state"] == "ref-42"
    assert pairs["wmB"][0] == {"name": "王芳", "kind": "person", "source_channel": "wecom", "tags": []}
    assert pairs["wmB"][1]["unionid"] is None


def test_tags_pushed_to_wecom(client, fake):
    library = client.tag_library()
    result = wc.push_tags(client, "zhangsan", "wmA", ["新客户", "茶叶", "CRM only"], ["etVIP"], library)
    assert result == {"add": ["etNEW", "etTEA"], "remove": ["etVIP"], "unknown": ["CRM only"]}
    assert fake.follows["wmA"]["zhangsan"]["tag_id"] == ["etNEW", "etTEA"]
    calls = len(fake.calls)
    assert wc.push_tags(client, "zhangsan", "wmA", ["新客户", "茶叶"], ["etNEW", "etTEA"], library)["add"] == []
    assert len(fake.calls) == calls  # nothing to change: no call
    with pytest.raises(wc.WeComError) as stranger:
        wc.push_tags(client, "lisi", "wmC1", ["VIP"], [], library)
    assert stranger.value.errcode == 84061


def test_group_send_and_its_results(ctx, fake):
    wc._tokens.clear()
    channel = ws.WeComChannel()
    assert channel.configured(ctx) is None
    out = channel.send(ctx, [msg(1, "wmA"), msg(2, "wmB"), msg(3, "wmGONE"), msg(4, "wmC0", text=" ")])
    assert [o.ok for o in out] == [True, True, False, False]
    assert "not a WeCom contact" in out[2].error and "no text" in out[3].error
    (msgid, send), = fake.templates.items()
    assert send["text"] == "双十二会员日，全场八折" and sorted(send["tasks"]) == ["lisi", "zhangsan"]
    ctx.session.commit()
    client = channel.client(ctx)
    assert ws.group_send_results(ctx, client) == []  # nobody confirmed yet
    fake.confirm(msgid, "lisi", quota_reached=("wmB",))
    receipts = ws.group_send_results(ctx, client)
    assert sorted((r.sender, r.event, r.text) for r in receipts) == [("wmA", "delivered", None), ("wmB", "failed", str(ws.QUOTA))]
    assert {r.raw["message_id"] for r in receipts} == {"<m1@crm>", "<m2@crm>"}
    ctx.session.commit()
    fake.confirm(msgid, "zhangsan")
    assert ws.group_send_results(ctx, client) == []  # each customer's result once
    ctx.session.commit()
    assert ctx.session.scalars(select(SyncState).where(SyncState.connection == ws.GROUP_SENDS)).all() == []


def test_group_send_errors_and_down(ctx, fake, account):
    from adapters.channels import accounts

    wc._tokens.clear()
    accounts.save_account(ctx, {"config": {"base_url": fake.url, "sender": "nobody"}}, account)
    out = ws.WeComChannel().send(ctx, [msg(1, "wmA")])
    assert not out[0].ok and "60111" in out[0].error and "the WeCom account's sender" in out[0].error
    accounts.save_account(ctx, {"config": {"base_url": fake.url, "sender": ""}}, account)
    fake.busy_next = 99
    with pytest.raises(ChannelDown, match="45009"):
        ws.WeComChannel().send(ctx, [msg(1, "wmA")])
    fake.stop()
    with pytest.raises(ChannelDown) as down:
        ws.WeComChannel().send(ctx, [msg(1, "wmA")])
    assert "access_token" not in str(down.value) and fake.secret not in str(down.value)


def test_contact_events_from_the_callback(ctx, fake):
    args, body = fake.callback(fake.event_xml("add_external_contact", "zhangsan", "wmNEW", state="ref-42", at=int(time.time())))
    seen: set[str] = set()

    def remember(nonce: str) -> bool:
        if nonce in seen:
            return False
        seen.add(nonce)
        return True

    (event,) = wc.receive(ctx, args, body, remember)
    assert (event.platform, event.account, event.sender, event.kind, event.event, event.scene) == (
        "wecom", fake.corp_id, "wmNEW", "event", "add_external_contact", "ref-42")
    assert "WelcomeCode" not in event.raw and event.received_at.tzinfo is not None
    with pytest.raises(AuthenticationRequired, match="replayed"):
        wc.receive(ctx, args, body, remember)
    args2, body2 = fake.callback(fake.event_xml("add_external_contact", "zhangsan", "wmNEW", state="ref-42",
                                                at=int(event.received_at.timestamp())))
    assert wc.receive(ctx, args2, body2, remember)[0].msg_id == event.msg_id  # WeCom's retry: same dedupe key
    for change in ("edit_external_contact", "del_external_contact", "del_follow_user"):
        a, b = fake.callback(fake.event_xml(change, "lisi", "wmA"))
        assert wc.receive(ctx, a, b)[0].event == change
    a, b = fake.callback(fake.tag_event_xml("etNEW2"))
    (tag,) = wc.receive(ctx, a, b)
    assert (tag.event, tag.sender, tag.raw["Id"], tag.raw["ChangeType"]) == ("change_external_tag", "", "etNEW2", "create")


def test_forged_replayed_or_foreign_callbacks_are_refused(ctx, fake, monkeypatch):
    inner = fake.event_xml("add_external_contact", "zhangsan", "wmX")
    args, body = fake.callback(inner, token="forged")
    with pytest.raises(AuthenticationRequired, match="signature"):
        wc.receive(ctx, args, body)
    args, body = fake.callback(inner, timestamp=str(int(time.time()) - 3600))
    with pytest.raises(AuthenticationRequired, match="replay window"):
        wc.receive(ctx, args, body)
    args, body = fake.callback(inner, corp_id="ww-another-corp")
    with pytest.raises(AuthenticationRequired, match="decrypted"):
        wc.receive(ctx, args, body)
    with pytest.raises(BadRequest):
        wc.receive(ctx, args, b'<!DOCTYPE x [<!ENTITY e "x">]><xml><Encrypt>&e;</Encrypt></xml>')
    with pytest.raises(BadRequest):
        wc.receive(ctx, args, b"<xml></xml>")
    monkeypatch.delitem(ctx.settings, "WECOM_CALLBACK_AES_KEY")
    args, body = fake.callback(inner)
    with pytest.raises(NotFound):  # not set up: as if the URL did not exist
        wc.receive(ctx, args, body)


def test_wecoms_published_sample_verifies(make_app):
    """WeCom's own sample (a text message, not a contact event): verified, decrypted, and not ours."""
    app = make_app(WECOM_CORP_ID="wx5823bf96d3bd56c7", WECOM_CALLBACK_TOKEN="QDG6eK",
                   WECOM_CALLBACK_AES_KEY="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C")
    ctx = app.extensions["crm"].context()
    body = f"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[{SAMPLE['encrypt']}]]></Encrypt></xml>".encode()
    args = {k: SAMPLE[k] for k in ("msg_signature", "timestamp", "nonce")}
    assert wc.receive(ctx, args, body, now=1409659813) == []
    with pytest.raises(AuthenticationRequired):
        wc.receive(ctx, {**args, "nonce": "1372623148"}, body, now=1409659813)
    ctx.session.close()


def test_url_check_answers_the_echo(ctx, fake):
    args, _body = fake.callback("1616140317555161061")
    args["echostr"] = _body.decode().split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    assert wc.verify_url(ctx, args) == "1616140317555161061"


def test_secret_and_token_never_logged(client, fake, caplog):
    """urllib3 logs each request line at DEBUG; WeCom's corp secret and token ride in the query."""
    caplog.set_level(logging.DEBUG)
    client.follow_users()
    fake.tokens.clear()
    client.follow_users()
    assert "/cgi-bin/gettoken" in caplog.text  # the request lines were logged
    assert fake.secret not in caplog.text
    assert not any(token in caplog.text for token in fake.tokens)


def test_a_vanished_group_send_does_not_block_the_others(ctx, fake):
    wc._tokens.clear()
    channel = ws.WeComChannel()
    channel.send(ctx, [msg(1, "wmA")])
    channel.send(ctx, [msg(2, "wmB", text="另一条")])
    ctx.session.commit()
    gone, kept = list(fake.templates)
    del fake.templates[gone]  # WeCom no longer knows it (41062)
    fake.confirm(kept, "lisi")
    assert [r.sender for r in ws.group_send_results(ctx, channel.client(ctx))] == ["wmB"]
    ctx.session.commit()
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=ws.RESULT_DAYS + 1)
    assert ws.group_send_results(ctx, channel.client(ctx), now=later) == []
    ctx.session.commit()  # too old: forgotten
    assert ctx.session.scalars(select(SyncState).where(SyncState.connection == ws.GROUP_SENDS)).all() == []
