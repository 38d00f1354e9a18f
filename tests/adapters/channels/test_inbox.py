"""The inbound pipeline: stored once, matched by identity/unionid/phone/e-mail, timeline or the unmatched queue,
link and make-a-lead, scenes handed to the hook, tickets opened."""
from __future__ import annotations

from typing import Any

import pytest

from adapters.channels import inbox
from adapters.channels.models import ChannelAccount, ChannelMessage
from crmcore import hookimpl
from crmcore.errors import BadRequest, ValidationError
from crmcore.models import Interaction
from crmcore.services import contacts, customers, identities
from plugins.sales.models import Lead

from .conftest import inbound


def _customer(ctx, name="Alpha Ltd", **data):
    return customers.create_customer(ctx, {"name": name, **data})


def test_matched_by_openid_goes_on_the_timeline_once(ctx):
    a = _customer(ctx)
    identities.add_identity(ctx, a.id, {"platform": "wechat_openid", "account": "wxAPP", "value": "oFOLLOWER"})
    first = inbox.receive(ctx, inbound(msg_id="1001", text="想了解报价\n第二行"))
    assert first.status == "matched" and first.customer_id == a.id and first.matched_by == "identity"
    item = ctx.session.get(Interaction, first.interaction_id)
    assert (item.channel, item.direction, item.subject, item.body) == ("wechat", "inbound", "想了解报价", "想了解报价\n第二行")
    assert inbox.receive(ctx, inbound(msg_id="1001", text="replayed")) is None  # the same msg_id: nothing changes
    assert ctx.session.query(ChannelMessage).count() == 1
    assert ctx.session.query(Interaction).count() == 1
    # the same msg_id on another account is another message
    assert inbox.receive(ctx, inbound(msg_id="1001", account="wxOTHER")).status == "unmatched"


def test_unionid_matches_across_apps_and_teaches_the_openid(ctx):
    a = _customer(ctx)
    identities.add_identity(ctx, a.id, {"platform": "wechat_unionid", "value": "uUNION"})
    msg = inbox.receive(ctx, inbound(account="wxMINI", sender="oMINI", unionid="uUNION"))
    assert (msg.customer_id, msg.matched_by) == (a.id, "unionid")
    assert identities.find_customer(ctx, "wechat_openid", "oMINI", "wxMINI").id == a.id


@pytest.mark.parametrize("platform, sender, field", [
    ("sms", "+86 138 0013 8000", {"phone": "13800138000"}),
    ("email", "Boss@Example.COM", {"email": "boss@example.com"}),
])
def test_phone_and_email_match_one_customer(ctx, platform, sender, field):
    a = _customer(ctx, **field)
    msg = inbox.receive(ctx, inbound(platform=platform, account="acct", sender=sender))
    assert msg.customer_id == a.id and msg.matched_by == platform.replace("sms", "phone")
    assert ctx.session.get(Interaction, msg.interaction_id).channel == platform


def test_a_phone_of_two_customers_waits_for_an_agent(ctx):
    _customer(ctx, "A", phone="13800138000")
    b = _customer(ctx, "B")
    contacts.create_contact(ctx, b.id, {"name": "Li", "mobile": "13800138000"})
    assert inbox.receive(ctx, inbound(platform="sms", account="sign", sender="+8613800138000")).status == "unmatched"


def test_unmatched_then_linked_records_the_identity_and_the_timeline(ctx):
    a = _customer(ctx)
    m1 = inbox.receive(ctx, inbound(sender="oNEW", unionid="uNEW"))
    m2 = inbox.receive(ctx, inbound(sender="oNEW", kind="image", text=None))
    assert (m1.status, m1.customer_id) == ("unmatched", None)
    linked = inbox.link(ctx, m2.id, a.id)
    assert [m.id for m in linked] == [m1.id, m2.id]  # every queued message of the sender
    assert {m.status for m in linked} == {"matched"}
    assert identities.find_customer(ctx, "wechat_openid", "oNEW", "wxAPP").id == a.id
    assert identities.find_customer(ctx, "wechat_unionid", "uNEW").id == a.id
    assert [i.subject for i in ctx.session.query(Interaction).order_by(Interaction.id)] == ["你好", "Sent an image"]
    assert inbox.receive(ctx, inbound(sender="oNEW")).customer_id == a.id  # known from now on
    with pytest.raises(BadRequest):
        inbox.link(ctx, m1.id, a.id)


def test_make_a_lead_through_the_sales_plugin(ctx):
    msg = inbox.receive(ctx, inbound(platform="sms", account="sign", sender="+8613900139000", text="请联系我"))
    lead_id = inbox.make_lead(ctx, msg.id, {"name": "王五"})
    lead = ctx.session.get(Lead, lead_id)
    assert (lead.name, lead.phone, lead.source_channel, lead.message) == ("王五", "+8613900139000", "sms", "请联系我")
    assert ctx.session.get(ChannelMessage, msg.id).status == "lead"
    with pytest.raises(ValidationError) as exc:  # the lead service's own validation
        inbox.make_lead(ctx, inbox.receive(ctx, inbound(sender="oX")).id, {"name": ""})
    assert "name" in exc.value.errors


def test_scene_goes_to_the_hook_once(rt, ctx):
    seen: list[Any] = []

    class Referrals:
        @hookimpl
        def crm_channel_scene(self, ctx, inbound, customer):
            seen.append((inbound.scene, customer))

    plugin = Referrals()
    rt.pm.register(plugin)
    try:
        scan = inbound(kind="event", event="subscribe", scene="ref_ABC", text=None, msg_id="oFOLLOWER1733472000")
        inbox.receive(ctx, scan)
        inbox.receive(ctx, scan)
    finally:
        rt.pm.unregister(plugin)
    assert seen == [("ref_ABC", None)]


def test_an_account_that_opens_tickets(ctx):
    from plugins.service.models import Ticket

    a = _customer(ctx)
    identities.add_identity(ctx, a.id, {"platform": "wechat_openid", "account": "wxAPP", "value": "oFOLLOWER"})
    ctx.session.add(ChannelAccount(platform="wechat", account="wxAPP", name="服务号", open_tickets=True))
    ctx.session.commit()
    first = inbox.receive(ctx, inbound(text="打印机坏了"))
    second = inbox.receive(ctx, inbound(text="还是不行"))
    ticket = ctx.session.get(Ticket, first.ticket_id)
    assert second.ticket_id == ticket.id and ticket.channel == "wechat" and ticket.customer_id == a.id


@pytest.mark.parametrize("change, field", [({"platform": "fax"}, "platform"), ({"msg_id": ""}, "msg_id"),
                                           ({"sender": "x" * 256}, "sender")])
def test_an_adapter_bug_is_refused_with_the_field(ctx, change, field):
    with pytest.raises(ValidationError) as exc:
        inbox.receive(ctx, inbound(**change))
    assert field in exc.value.errors


def test_a_deleted_customers_follower_can_be_linked_again(ctx):
    old, new = _customer(ctx, "Old Ltd"), _customer(ctx, "New Ltd")
    identities.add_identity(ctx, old.id, {"platform": "wechat_openid", "account": "wxAPP", "value": "oMOVED"})
    customers.delete_customer(ctx, old.id)
    msg = inbox.receive(ctx, inbound(sender="oMOVED"))
    assert msg.status == "unmatched"  # a deleted customer's timeline gets nothing
    inbox.link(ctx, msg.id, new.id)
    assert identities.find_customer(ctx, "wechat_openid", "oMOVED", "wxAPP").id == new.id
