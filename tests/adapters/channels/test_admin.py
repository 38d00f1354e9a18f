"""The channel admin pages in zh_CN and en: accounts with write-only secrets, the unmatched queue (link a
sender to a customer chosen by name, make a lead), the inbound messages in words."""
from __future__ import annotations

from adapters.channels import inbox
from adapters.channels.models import ChannelAccount, ChannelMessage
from crmcore.services import customers, identities
from crmcore.testing import admin_login
from crmcore.testing.admin import post_form
from plugins.sales.models import Lead

from .conftest import inbound

ACCOUNTS = "/admin/channels/accounts/"


def test_accounts_page_saves_with_secrets_write_only(client, ctx, make_user):
    make_user("admin", username="root")
    admin_login(client, "root", lang="zh-CN")
    res = post_form(client, ACCOUNTS, {"platform": "wechat", "account": "wxADMIN", "name": "服务号", "enabled": "1",
                                       "config_mode": "safe", "secret_token": "tok-hidden", "secret_app_secret": "app-hidden",
                                       "secret_encoding_aes_key": "b" * 43})
    assert res.status_code == 302
    row = ctx.session.query(ChannelAccount).one()
    assert (row.account, row.config, sorted(row.secrets)) == ("wxADMIN", {"mode": "safe"}, ["app_secret", "encoding_aes_key", "token"])
    page = client.get(ACCOUNTS).text
    assert "tok-hidden" not in page and "app-hidden" not in page and "b" * 43 not in page
    assert "安全模式" in page and "/channels/wechat/wxADMIN/callback" in page
    res = post_form(client, ACCOUNTS, {"id": str(row.id), "name": "新名", "config_mode": "safe", "secret_token": ""})
    ctx.session.expire_all()
    assert res.status_code == 302 and row.name == "新名" and row.secrets["token"] == "tok-hidden"  # empty keeps it
    res = post_form(client, ACCOUNTS, {"platform": "wechat", "account": "wxBAD", "name": "x", "config_mode": "plain",
                                       "secret_encoding_aes_key": "short"})
    assert res.status_code == 200 and "43" in res.text and ctx.session.query(ChannelAccount).count() == 1


def test_a_sales_rep_cannot_configure_accounts(client, make_user):
    make_user("sales", username="rep")
    admin_login(client, "rep")
    assert client.get(ACCOUNTS).status_code in (302, 403)


def test_unmatched_queue_links_by_name_and_makes_leads(client, ctx, make_user):
    make_user("admin", username="root")
    alpha = customers.create_customer(ctx, {"name": "阿尔法贸易"})
    first = inbox.receive(ctx, inbound(sender="oQUEUE", text="在吗"))
    second = inbox.receive(ctx, inbound(platform="sms", account="sign", sender="+8613700137000", text="报价"))
    admin_login(client, "root", lang="zh-CN")
    page = client.get("/admin/channels/unmatched/").text
    assert "阿尔法贸易" in page and "在吗" in page and "微信公众号" in page and "短信" in page
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    res = client.post(f"/admin/channels/unmatched/{first.id}/link", data={"csrf_token": token, "customer_id": str(alpha.id)})
    assert res.status_code == 302
    assert identities.find_customer(ctx, "wechat_openid", "oQUEUE", "wxAPP").id == alpha.id
    res = client.post(f"/admin/channels/unmatched/{second.id}/lead", data={"csrf_token": token, "name": "钱七"})
    assert res.status_code == 302
    assert ctx.session.query(Lead).one().phone == "+8613700137000"
    ctx.session.expire_all()
    assert {m.status for m in ctx.session.query(ChannelMessage)} == {"matched", "lead"}
    res = client.post(f"/admin/channels/unmatched/{second.id}/link", data={"customer_id": str(alpha.id)})
    assert res.status_code == 400  # no CSRF token


def test_messages_page_in_words(client, ctx, make_user):
    make_user("admin", username="root")
    alpha = customers.create_customer(ctx, {"name": "Alpha"})
    identities.add_identity(ctx, alpha.id, {"platform": "wechat_openid", "account": "wxAPP", "value": "oKNOWN"})
    inbox.receive(ctx, inbound(sender="oKNOWN", kind="event", event="subscribe", text=None))
    inbox.receive(ctx, inbound(sender="oNEW", text="<script>alert(1)</script>"))
    admin_login(client, "root", lang="en")
    page = client.get("/admin/channels/messages/").text
    assert "Followed the account" in page and "On the timeline" in page and "by their id" in page
    assert "Waiting to be linked" in page and "<script>alert(1)" not in page
    page = client.get("/admin/channels/messages/?status=matched", headers={"Accept-Language": "zh-CN"}).text
    assert "关注了公众号" in page and "已上时间线" in page and "oNEW" not in page


def test_cli_list_unmatched_and_test(runner, ctx, fake_wechat, wechat_account):
    from adapters.channels.cli import channels

    wechat_account()
    inbox.receive(ctx, inbound(account=fake_wechat.app_id, sender="oCLI", text="你好吗"))
    out = runner.invoke(channels, ["list"])
    assert out.exit_code == 0 and f"/channels/wechat/{fake_wechat.app_id}/callback" in out.output
    assert "Waiting to be linked 1" in out.output
    out = runner.invoke(channels, ["unmatched"])
    assert "1 unmatched" in out.output and "oCLI" in out.output and "你好吗" in out.output
    assert runner.invoke(channels, ["test", fake_wechat.app_id]).exit_code == 0
    fake_wechat.app_secret = "rotated"
    out = runner.invoke(channels, ["test", fake_wechat.app_id])
    assert out.exit_code != 0 and "40125" in out.output


def test_demo_data_a_linked_follower_and_one_in_the_queue(ctx):
    from crmcore.demo import load_demo
    from crmcore.models import Customer, Interaction

    load_demo(ctx)
    ctx.hook.crm_demo_data(ctx=ctx)
    ctx.hook.crm_demo_data(ctx=ctx)  # twice: nothing doubles
    hz = ctx.session.query(Customer).filter_by(code="HZ001").one()
    assert identities.find_customer(ctx, "wechat_openid", "oDEMOfollowerHZ001", "wxdemo0000000001").id == hz.id
    on_timeline = ctx.session.query(Interaction).filter_by(customer_id=hz.id, channel="wechat", source="channels").count()
    assert on_timeline == 3
    assert [m.sender for m in ctx.session.query(ChannelMessage).filter_by(status="unmatched")] == ["oDEMOunknown0001"]
