"""Campaign sends end to end against a real SMTP server: checks before anything is sent, the audience
snapshotted with consent, the suppression list and a control group, tracked links, one-click unsubscribe,
crash and restart without doubles or gaps, and the results against the control group."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import func, select, update

from crmcore.errors import ValidationError
from plugins.marketing.models import Campaign, MarketingEvent, Recipient
from plugins.marketing.services import audiences, campaigns, consent, results, templates, tracking


def new_campaign(ctx: Any, name: str = "母亲节", condition: Any = None, holdout: int = 0) -> Campaign:
    audience = audiences.create_audience(ctx, {"name": f"{name} audience", "condition": condition or {
        "field": "stage", "op": "eq", "value": "customer"}})
    template = templates.create_template(ctx, {
        "name": f"{name} mail", "subject": "{{ customer.name }}，母亲节快乐",
        "html": '<p>亲爱的 {{ contact.name }}</p><a href="https://shop.example/gifts?c=1&amp;d=2">礼物</a>'
                '<a href="{{ unsubscribe_url }}">退订</a>',
        "text": "亲爱的 {{ contact.name }}，退订：{{ unsubscribe_url }}"})
    return campaigns.create_campaign(ctx, {"name": name, "audience_id": audience.id, "template_id": template.id,
                                           "holdout_percent": holdout})


def test_nothing_is_sent_when_the_audience_matches_nobody_or_nobody_agreed(ctx: Any, subscriber: Any,
                                                                          inbox: Any) -> None:
    empty = new_campaign(ctx, "empty", condition={"field": "stage", "op": "eq", "value": "lost"})
    with pytest.raises(ValidationError) as exc:
        campaigns.start(ctx, empty.id)
    assert "matches nobody" in exc.value.message
    subscriber("No consent Ltd", "a@example.cn", consent_given=False, stage="customer")
    subscriber("No address Ltd", None, stage="customer")
    campaign = new_campaign(ctx, "nobody")
    with pytest.raises(ValidationError) as exc:
        campaigns.start(ctx, campaign.id)
    assert "1 without an address, 1 without consent" in exc.value.message
    assert inbox.messages == [] and ctx.session.scalar(select(func.count()).select_from(Recipient)) == 0
    assert ctx.session.get(Campaign, campaign.id).status == "draft"


def test_a_send_reaches_exactly_the_consented_unsuppressed_audience(ctx: Any, subscriber: Any, inbox: Any,
                                                                    make_customer: Any) -> None:
    a = subscriber("甲公司", "A@Example.cn", stage="customer")
    subscriber("乙公司", "b@example.cn", stage="customer")
    withdrawn = subscriber("丙公司", "c@example.cn", stage="customer")
    consent.record(ctx, withdrawn.id, {"channel": "email", "status": "withdrawn", "source": "api"})
    suppressed = subscriber("丁公司", "d@example.cn", stage="customer")
    consent.suppress(ctx, "email", "D@example.cn", "bounced")
    subscriber("戊公司", "e@example.cn", stage="lead")  # not in the audience
    campaign = new_campaign(ctx)
    ready = campaigns.readiness(ctx, campaign)
    assert ready == {"audience": 4, "no_address": 0, "no_consent": 1, "suppressed": 1, "over_cap": 0, "reachable": 2}
    campaigns.start(ctx, campaign.id)
    assert campaigns.send_campaign(ctx, campaign.id) == {"sent": 2}
    assert sorted(rcpt for _f, (rcpt,) in inbox.envelopes) == ["a@example.cn", "b@example.cn"]
    mail = next(m for m in inbox.messages if m["To"] == "a@example.cn")
    assert mail["Subject"] == "甲公司，母亲节快乐" and "星河家居" in mail["From"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["List-Unsubscribe"].startswith("<https://crm.shop.example/m/u/")
    html = mail.get_body(("html",)).get_content()
    assert "https://shop.example/gifts" not in html and "https://crm.shop.example/m/c/" in html  # tracked
    assert "/m/o/" in html  # the open pixel
    assert ctx.session.get(Campaign, campaign.id).status == "done"
    assert campaigns.send_campaign(ctx, campaign.id) == {"sent": 2} and len(inbox.messages) == 2  # nothing again
    assert suppressed.id not in ctx.session.scalars(select(Recipient.customer_id))
    assert a.id in ctx.session.scalars(select(Recipient.customer_id))


def test_a_crash_mid_send_then_a_restart_sends_every_message_once(ctx: Any, subscriber: Any, inbox: Any) -> None:
    for i in range(7):
        subscriber(f"客户{i}", f"c{i}@example.cn", stage="customer")
    campaign = new_campaign(ctx)
    campaigns.start(ctx, campaign.id)
    assert campaigns.send_batch(ctx, campaign.id, batch=3) == 3
    # a worker dies after claiming the next batch and before sending it
    claimed = list(ctx.session.scalars(select(Recipient.id).where(Recipient.status == "pending")
                                       .order_by(Recipient.id).limit(2)))
    ctx.session.execute(update(Recipient).where(Recipient.id.in_(claimed)).values(status="sending", attempts=1))
    ctx.session.commit()
    campaigns.send_campaign(ctx, campaign.id, batch=3)
    recipients = [rcpt for _f, (rcpt,) in inbox.envelopes]
    assert sorted(recipients) == sorted(f"c{i}@example.cn" for i in range(7))  # each exactly once
    ids = [m["Message-ID"] for m in inbox.messages]
    assert len(set(ids)) == 7
    # a message a dead worker had handed over is sent again under the same Message-ID
    assert campaigns.message_id(ctx, claimed[0]) == campaigns.message_id(ctx, claimed[0])


def test_a_mail_server_that_is_down_leaves_the_batch_for_later(ctx: Any, subscriber: Any, rt: Any,
                                                              inbox: Any) -> None:
    subscriber("甲", "a@example.cn", stage="customer")
    campaign = new_campaign(ctx)
    campaigns.start(ctx, campaign.id)
    from crmcore.testing.mail import free_port
    from plugins.marketing.channels import ChannelDown

    settings = dict(rt.settings)
    rt.settings["MARKETING_SMTP_PORT"] = str(free_port())
    try:
        with pytest.raises(ChannelDown):
            campaigns.send_batch(ctx, campaign.id)
    finally:
        rt.settings.clear()
        rt.settings.update(settings)
    assert campaigns.counts(ctx, campaign.id) == {"pending": 1}
    assert campaigns.send_campaign(ctx, campaign.id) == {"sent": 1}


def test_the_control_group_is_kept_out_and_measured(ctx: Any, subscriber: Any, inbox: Any) -> None:
    from plugins.sales.services import orders

    people = [subscriber(f"客户{i}", f"p{i}@example.cn", stage="customer") for i in range(80)]
    campaign = new_campaign(ctx, holdout=25)
    campaigns.start(ctx, campaign.id)
    campaigns.send_campaign(ctx, campaign.id)
    n = campaigns.counts(ctx, campaign.id)
    assert n["sent"] + n["held_out"] == 80 and 8 <= n["held_out"] <= 32 and len(inbox.messages) == n["sent"]
    held = set(ctx.session.scalars(select(Recipient.customer_id).where(Recipient.status == "held_out")))
    today = dt.date.today()
    buyers = [p for p in people if p.id not in held][:10] + [p for p in people if p.id in held][:1]
    for i, p in enumerate(buyers):
        orders.record_order(ctx, {"number": f"MD-{i}", "customer_id": p.id, "order_date": today, "lines": [
            {"description": "花束", "quantity": "1", "unit_price": "100"}]})
    report = results.report(ctx, campaign.id)
    conv = report["conversions"]
    assert (conv["sent"], conv["held_out"]) == (10, 1) and conv["revenue_sent"] == "1000.00"
    assert conv["rate_sent"] == pytest.approx(10 / n["sent"]) and conv["rate_control"] == pytest.approx(1 / n["held_out"])
    assert conv["lift"] == pytest.approx(10 / n["sent"] - 1 / n["held_out"])
    assert conv["interval"] is None and "Fewer than 30" in conv["note"]  # the control group is too small
    wide = results.lift(30, 300, 10, 300)
    assert wide["interval"][0] < wide["lift"] < wide["interval"][1] and wide["interval"][0] > 0


def test_one_click_unsubscribe_and_tracked_links(client: Any, ctx: Any, subscriber: Any, inbox: Any,
                                                  rt: Any) -> None:
    customer = subscriber("甲公司", "a@example.cn", stage="customer")
    campaign = new_campaign(ctx)
    campaigns.start(ctx, campaign.id)
    campaigns.send_campaign(ctx, campaign.id)
    html = inbox.messages[0].get_body(("html",)).get_content()
    click = re.search(r'href="https://crm\.shop\.example(/m/c/[^"]+)"', html).group(1)
    r = client.get(click)
    assert r.status_code == 302 and r.headers["Location"] == "https://shop.example/gifts?c=1&d=2"
    assert client.get(click[:-3] + "xyz").status_code == 404  # a changed token opens nothing
    forged = tracking.token(ctx, "open", 1)  # a valid open token is not a click token
    assert client.get(f"/m/c/{forged}").status_code == 404
    pixel = re.search(r'src="https://crm\.shop\.example(/m/o/[^"]+)"', html).group(1)
    assert client.get(pixel).mimetype == "image/gif"
    client.get(pixel)
    unsubscribe = inbox.messages[0]["List-Unsubscribe"].strip("<>").removeprefix("https://crm.shop.example")
    page = client.get(unsubscribe, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "<form" in page.text  # a page with a button: a link scanner changes nothing
    assert consent.latest_status(ctx, customer.id, "email") == "granted"
    r = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})  # RFC 8058, no CSRF token
    assert r.status_code == 200
    ctx.session.expire_all()
    assert consent.latest_status(ctx, customer.id, "email") == "withdrawn"
    assert consent.is_suppressed(ctx, "email", "A@example.cn")
    client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})  # a repeat changes nothing
    kinds = sorted(ctx.session.scalars(select(MarketingEvent.kind)))
    assert kinds == ["clicked", "opened", "unsubscribed"]
    assert results.report(ctx, campaign.id)["funnel"]["unsubscribed"] == 1
    assert client.post("/m/u/not-a-token").status_code == 404
    # the next campaign leaves the customer out, before anything is sent
    second = new_campaign(ctx, "双十一")
    with pytest.raises(ValidationError) as exc:
        campaigns.start(ctx, second.id)
    assert "1 without consent" in exc.value.message


def test_templates_offer_only_the_documented_variables(ctx: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        templates.create_template(ctx, {"name": "t", "subject": "{{ customer.nmae }}", "text": "{{ cutsomer.name }}",
                                        "html": "{% if %}"})
    errors = exc.value.errors
    assert "customer.name" in errors["subject"][0] and "customer" in errors["text"][0]
    assert errors["html"][0].startswith("Line 1")
    for evil in ("{{ ''.__class__.__mro__ }}", "{{ customer.__class__ }}", "{{ range(10) }}",
                 "{{ customer['__class__'] }}", "{{ cycler.__init__.__globals__ }}"):
        with pytest.raises(ValidationError):
            templates.create_template(ctx, {"name": "evil", "subject": "x", "text": evil})
    ok = templates.create_template(ctx, {"name": "ok", "subject": "{{ customer.name|upper }}", "html":
                                         "<b>{{ customer.name }}</b>{% for p in recommendations %}{{ p }}{% else %}"
                                         "鲜花{% endfor %}"})
    out = templates.render(ok, {"customer": {"name": "<script>x</script>", "code": "", "city": ""},
                                "contact": {"name": ""}, "company": {"name": ""}, "recommendations": [],
                                "unsubscribe_url": "", "preferences_url": ""})
    assert "&lt;script&gt;" in out["html"] and "鲜花" in out["html"]  # escaped; the fallback when none


def test_the_gift_suggestion_comes_from_what_the_customer_bought(make_app: Any, smtp_server: Any, rt: Any,
                                                                 subscriber: Any) -> None:
    """The Mother's Day scenario: customers who bought vases are offered flowers (a basket rule), a customer
    with nothing to suggest gets the template's fallback."""
    inbox, port = smtp_server
    app = make_app(PLUGINS=["plugins.sales", "plugins.analysis", "plugins.marketing"], MARKETING_SMTP_HOST="127.0.0.1",
                   MARKETING_SMTP_PORT=str(port), MARKETING_FROM="news@shop.example")
    ctx = app.extensions["crm"].context(source="test")
    from plugins.analysis.services.basket import run_basket
    from plugins.sales.services import catalog, orders

    vase = catalog.create_product(ctx, {"code": "VASE", "name": "青瓷花瓶", "list_price": "200"})
    flowers = catalog.create_product(ctx, {"code": "FLOWER", "name": "康乃馨花束", "list_price": "99"})
    today = dt.date.today()
    people = [subscriber(f"客户{i}", f"g{i}@example.cn", stage="customer") for i in range(5)]
    for i, p in enumerate(people[:4]):
        lines = [{"product_id": vase.id, "quantity": "1", "unit_price": "200"}]
        if i < 3:
            lines.append({"product_id": flowers.id, "quantity": "1", "unit_price": "99"})
        orders.record_order(ctx, {"number": f"G-{i}", "customer_id": p.id, "order_date": today, "lines": lines})
    card = catalog.create_product(ctx, {"code": "CARD", "name": "贺卡", "list_price": "9"})
    for i, p in enumerate([people[4], subscriber("其他", None, stage="lead")]):  # flowers are not bought by all
        orders.record_order(ctx, {"number": f"C-{i}", "customer_id": p.id, "order_date": today, "lines": [
            {"product_id": card.id, "quantity": "1", "unit_price": "9"}]})
    run_basket(ctx, min_pairs=2)
    template = templates.create_template(ctx, {"name": "gift", "subject": "礼物", "text":
                                               "{% for p in recommendations %}[{{ p }}]{% else %}[鲜花礼盒]{% endfor %}"})
    audience = audiences.create_audience(ctx, {"name": "all", "condition": {"field": "stage", "op": "eq",
                                                                             "value": "customer"}})
    campaign = campaigns.create_campaign(ctx, {"name": "gift", "audience_id": audience.id, "template_id": template.id})
    campaigns.start(ctx, campaign.id)
    campaigns.send_campaign(ctx, campaign.id)
    bodies = {m["To"]: m.get_body(("plain",)).get_content().split("\n-- ")[0].strip() for m in inbox.messages}  # no footer
    assert bodies["g3@example.cn"] == "[康乃馨花束]"  # bought the vase, not yet the flowers
    assert bodies["g0@example.cn"] == "[鲜花礼盒]" and bodies["g4@example.cn"] == "[鲜花礼盒]"  # the fallback


def test_the_frequency_cap_counts_across_campaigns(ctx: Any, subscriber: Any, inbox: Any, rt: Any) -> None:
    rt.settings.update(MARKETING_FREQUENCY_CAP="1", MARKETING_FREQUENCY_DAYS="7")
    subscriber("甲", "a@example.cn", stage="customer")
    subscriber("乙", "b@example.cn", stage="customer")
    first = new_campaign(ctx, "first", condition={"field": "name", "op": "eq", "value": "甲"})
    campaigns.start(ctx, first.id)
    campaigns.send_campaign(ctx, first.id)
    second = new_campaign(ctx, "second")
    assert campaigns.readiness(ctx, second)["over_cap"] == 1
    campaigns.start(ctx, second.id)
    campaigns.send_campaign(ctx, second.id)
    assert sorted(rcpt for _f, (rcpt,) in inbox.envelopes) == ["a@example.cn", "b@example.cn"]  # 甲 once only


def test_quiet_hours_hold_the_send_until_they_end(ctx: Any, subscriber: Any, inbox: Any, rt: Any) -> None:
    from crmcore.errors import ConfigError

    subscriber("甲", "a@example.cn", stage="customer")
    campaign = new_campaign(ctx)
    campaigns.start(ctx, campaign.id)
    at = lambda h, m=0: dt.datetime(2026, 5, 9, h, m, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # noqa: E731
    rt.settings.update(MARKETING_QUIET_HOURS="21:00-08:00", MARKETING_TIMEZONE="Asia/Shanghai")
    assert [consent.quiet_now(ctx, at(h)) for h in (7, 8, 12, 20, 21, 23)] == [True, False, False, False, True, True]
    rt.settings["MARKETING_QUIET_HOURS"] = "12:00-14:00"  # a daytime window too
    assert [consent.quiet_now(ctx, at(h)) for h in (11, 12, 13, 14)] == [False, True, True, False]
    rt.settings["MARKETING_QUIET_HOURS"] = "00:00-23:59"
    assert campaigns.send_campaign(ctx, campaign.id) == {"pending": 1} and inbox.messages == []
    rt.settings["MARKETING_QUIET_HOURS"] = "late"
    with pytest.raises(ConfigError):
        consent.quiet_now(ctx)
    rt.settings["MARKETING_QUIET_HOURS"] = ""
    assert campaigns.send_campaign(ctx, campaign.id) == {"sent": 1}


def test_a_template_that_fails_for_one_customer_fails_that_message_only(ctx: Any, subscriber: Any,
                                                                         inbox: Any) -> None:
    subscriber("甲", "a@example.cn", stage="customer")
    subscriber("12", "b@example.cn", stage="customer")
    audience = audiences.create_audience(ctx, {"name": "all", "condition": {"field": "stage", "op": "eq",
                                                                             "value": "customer"}})
    # valid when saved; a name that is not a number fails at render time, for that customer alone
    template = templates.create_template(ctx, {"name": "odd", "subject": "x", "text": "{{ 100 // customer.name|int }}"})
    campaign = campaigns.create_campaign(ctx, {"name": "odd", "audience_id": audience.id, "template_id": template.id})
    campaigns.start(ctx, campaign.id)
    assert campaigns.send_campaign(ctx, campaign.id) == {"sent": 1, "failed": 1}
    failed = ctx.session.scalar(select(Recipient).where(Recipient.status == "failed"))
    assert failed.reason.startswith("template: ZeroDivisionError") and len(inbox.messages) == 1
    assert ctx.session.get(Campaign, campaign.id).status == "done"  # not stuck claiming the same batch again
