"""What one WeChat callback costs the database, counted with an SQLAlchemy event listener (no timing): a known
follower's text message is verified, stored once, matched and put on the timeline in few statements, with no
savepoint; the guards (replay, forgery, duplicate) still hold. docs/channels.md states the count."""
from __future__ import annotations

from typing import Any

from sqlalchemy import event

from adapters.channels.models import ChannelMessage, ChannelNonce
from crmcore.models import Interaction
from crmcore.services import identities

STATEMENTS = 9  # before: 18 (docs/channels.md, "Speed")


def _post(client: Any, fake: Any, pushed: tuple[str, bytes]) -> Any:
    query, body = pushed
    return client.post(f"/channels/wechat/{fake.app_id}/callback?{query}", data=body, headers={"Content-Type": "text/xml"})


def test_a_known_followers_message_takes_few_statements(client, ctx, rt, fake_wechat, wechat_account, make_customer):
    wechat_account()
    customer = make_customer("王女士")
    identities.add_identity(ctx, customer.id, {"platform": "wechat_openid", "account": fake_wechat.app_id,
                                               "value": "oWANG"})
    assert _post(client, fake_wechat, fake_wechat.say("oWANG", "第一条", msg_id=1)).status_code == 200  # warm
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        pushed = fake_wechat.say("oWANG", "明前龙井还有货吗？", msg_id=2)
        assert _post(client, fake_wechat, pushed).text == "success"
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", count)
    assert len(seen) <= STATEMENTS, "\n".join(s.splitlines()[0][:120] for s in seen)
    assert not [s for s in seen if "SAVEPOINT" in s]
    assert len([s for s in seen if s.startswith("SELECT") and "channel_accounts" in s.split("WHERE")[-1]]) <= 1
    # every guard still holds: the replay, a forged signature, WeChat's retry (same MsgId, a new nonce)
    assert _post(client, fake_wechat, pushed).status_code == 401
    query, body = fake_wechat.say("oWANG", "伪造", msg_id=3)
    assert _post(client, fake_wechat, (query.replace("signature=", "signature=0"), body)).status_code == 401
    assert _post(client, fake_wechat, fake_wechat.say("oWANG", "明前龙井还有货吗？", msg_id=2)).text == "success"
    ctx.session.expire_all()
    assert [m.text for m in ctx.session.query(ChannelMessage).order_by(ChannelMessage.id)] == ["第一条", "明前龙井还有货吗？"]
    assert ctx.session.query(Interaction).filter_by(customer_id=customer.id, channel="wechat").count() == 2
    assert ctx.session.query(ChannelNonce).count() == 3  # the refused forgery left none


def test_the_accounts_ticket_switch_is_read_on_each_callback(client, ctx, fake_wechat, wechat_account, make_customer):
    """The account the callback read is reused by the pipeline within the callback, never across callbacks."""
    from adapters.channels import accounts

    row = wechat_account()
    customer = make_customer("赵先生")
    identities.add_identity(ctx, customer.id, {"platform": "wechat_openid", "account": fake_wechat.app_id,
                                               "value": "oZHAO"})
    assert _post(client, fake_wechat, fake_wechat.say("oZHAO", "发票开错了", msg_id=11)).text == "success"
    accounts.save_account(ctx, {"open_tickets": True}, ctx.session.merge(row))
    assert _post(client, fake_wechat, fake_wechat.say("oZHAO", "发票还是不对", msg_id=12)).text == "success"
    ctx.session.expire_all()
    tickets = [m.ticket_id for m in ctx.session.query(ChannelMessage).order_by(ChannelMessage.id)]
    assert tickets[0] is None and tickets[1] is not None
