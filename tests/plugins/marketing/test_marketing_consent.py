"""Double opt-in (a grant pending until its signed, expiring link is followed; sends skip it) and the preference
page (a signed link in every marketing mail: consents per channel and purpose with source, time and text,
changed by the customer and recorded as consents), against a real SMTP server."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from crmcore.errors import RetriableAdapterError, ValidationError
from crmcore.testing.mail import free_port
from plugins.marketing.models import Consent
from plugins.marketing.services import audiences, campaigns, consent, optin, templates

AGREED = "我愿意接收星河家居的优惠信息"


def _campaign(ctx: Any, name: str = "母亲节", text: str = "你好 {{ contact.name }}") -> Any:
    audience = audiences.create_audience(ctx, {"name": f"{name} audience", "condition": {
        "field": "stage", "op": "eq", "value": "customer"}})
    template = templates.create_template(ctx, {"name": f"{name} mail", "subject": "{{ customer.name }}", "text": text})
    return campaigns.create_campaign(ctx, {"name": name, "audience_id": audience.id, "template_id": template.id})


def _link(mail: Any, path: str) -> str:
    body = mail.get_body(("plain",)).get_content()
    return re.search(rf"https://crm\.shop\.example(/m/{path}/[^\s]+)", body).group(1)


def _grant(ctx: Any, customer_id: int, source: str = "form") -> Consent:
    return consent.record(ctx, customer_id, {"channel": "email", "status": "granted", "source": source,
                                             "text": AGREED})


@pytest.fixture
def double_opt_in(rt: Any) -> None:
    rt.settings["MARKETING_DOUBLE_OPT_IN"] = "1"


def test_double_opt_in_keeps_a_grant_pending_until_its_link_is_followed(ctx: Any, client: Any, inbox: Any,
                                                                         make_customer: Any, double_opt_in: None) -> None:
    customer = make_customer("甲公司", email="Jia@Example.cn", stage="customer")
    row = _grant(ctx, customer.id)
    assert row.status == "pending" and row.text == AGREED
    assert [m["To"] for m in inbox.messages] == ["jia@example.cn"]
    assert AGREED in inbox.messages[0].get_body(("plain",)).get_content()
    campaign = _campaign(ctx)
    assert campaigns.readiness(ctx, campaign)["no_consent"] == 1  # a send skips a pending consent
    with pytest.raises(ValidationError, match="1 without consent"):
        campaigns.start(ctx, campaign.id)
    link = _link(inbox.messages[0], "confirm")
    page = client.get(link, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "<form" in page.text and AGREED in page.text  # a link scanner confirms nothing
    ctx.session.expire_all()
    assert consent.latest_status(ctx, customer.id, "email") == "pending"
    assert "订阅已确认" in client.post(link, headers={"Accept-Language": "zh-CN"}).text
    assert client.post(link).status_code == 200  # a second click changes nothing
    ctx.session.expire_all()
    rows = consent.history(ctx, customer.id)
    assert [(r.status, r.source, r.text) for r in rows] == [("granted", "double_opt_in", AGREED),
                                                             ("pending", "form", AGREED)]
    assert campaigns.readiness(ctx, campaign)["reachable"] == 1
    assert client.get(link[:-2] + "xx").status_code == 404  # a changed token opens nothing


def test_a_confirmation_link_expires_and_cannot_revive_a_withdrawn_consent(ctx: Any, client: Any, inbox: Any,
                                                                         make_customer: Any, double_opt_in: None,
                                                                         monkeypatch: Any) -> None:
    customer = make_customer("乙公司", email="yi@example.cn", stage="customer")
    row = _grant(ctx, customer.id)
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 73 * 3600)  # signed 73 hours ago (links work 72)
    old = optin.confirm_url(ctx, row.id).removeprefix("https://crm.shop.example")
    monkeypatch.setattr(time, "time", real)
    r = client.post(old)
    assert r.status_code == 410 and "expired" in r.text
    link = _link(inbox.messages[0], "confirm")
    consent.record(ctx, customer.id, {"channel": "email", "status": "withdrawn", "source": "api"})
    assert "Nothing to confirm" in client.post(link).text
    ctx.session.expire_all()
    assert consent.latest_status(ctx, customer.id, "email") == "withdrawn"


def test_a_pending_re_grant_keeps_the_grant_that_counts_and_bad_cases_are_refused(
        ctx: Any, rt: Any, client: Any, inbox: Any, make_customer: Any, make_user: Any) -> None:
    customer = make_customer("丙公司", email="bing@example.cn", stage="customer")
    _grant(ctx, customer.id)  # before double opt-in was switched on: it counts
    rt.settings["MARKETING_DOUBLE_OPT_IN"] = "1"
    assert _grant(ctx, customer.id).status == "pending"
    assert consent.latest_status(ctx, customer.id, "email") == "granted"
    assert campaigns.readiness(ctx, _campaign(ctx))["reachable"] == 1
    # no address to confirm at: a 422 naming the field, nothing recorded
    _m, manager = make_user("admin")
    nobody = make_customer("无邮箱")
    r = client.post(f"/api/v1/marketing/customers/{nobody.id}/consents", headers=manager, json={
        "channel": "email", "status": "granted", "text": AGREED, "source": "form"})
    assert r.status_code == 422 and "e-mail address" in r.json["errors"]["channel"][0]
    r = client.post(f"/api/v1/marketing/customers/{nobody.id}/consents", headers=manager, json={
        "channel": "email", "status": "pending", "text": AGREED})
    assert r.status_code == 422 and "status" in r.json["errors"]  # pending is the CRM's to say
    # the mail server is down: nothing recorded, a retriable error
    rt.settings["MARKETING_SMTP_PORT"] = str(free_port())
    other = make_customer("丁公司", email="ding@example.cn")
    with pytest.raises(RetriableAdapterError):
        _grant(ctx, other.id)
    assert ctx.session.scalars(select(Consent).where(Consent.customer_id.in_([nobody.id, other.id]))).all() == []


def test_the_preference_page_shows_the_evidence_and_records_changes(ctx: Any, client: Any, inbox: Any,
                                                                      subscriber: Any) -> None:
    customer = subscriber("戊公司", "wu@example.cn", stage="customer")
    campaign = _campaign(ctx, text="管理订阅：{{ preferences_url }}")
    campaigns.start(ctx, campaign.id)
    campaigns.send_campaign(ctx, campaign.id)
    link = _link(inbox.messages[0], "p")
    page = client.get(link, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and AGREED in page.text and "表单" in page.text  # text and source, in words
    assert 'value="email:marketing" checked' in page.text and "form" not in re.sub(r"<[^>]+>", "", page.text)
    r = client.post(link, data={"consent": ["sms:marketing"]}, headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 200
    ctx.session.expire_all()
    rows = consent.history(ctx, customer.id)
    assert [(r.channel, r.status, r.source) for r in rows[:2]] == [("sms", "granted", "preference_page"),
                                                                   ("email", "withdrawn", "preference_page")]
    assert "短信" in rows[0].text  # the sentence the customer ticked, as shown, is the evidence
    assert len(rows) == 3  # boxes left as they were record nothing
    assert campaigns.readiness(ctx, _campaign(ctx, "双十一"))["no_consent"] == 1
    client.post(link, data={"consent": ["sms:marketing"]})
    assert len(consent.history(ctx, customer.id)) == 3  # saving again without a change records nothing
    assert client.get(link[:-2] + "xx").status_code == 404
    assert client.get("/m/p/" + link.rsplit("/", 1)[1].replace("p", "u", 1)).status_code == 404


def test_staff_recording_a_grant_under_double_opt_in_see_it_pending(app: Any, ctx: Any, inbox: Any, make_user: Any,
                                                                   make_customer: Any, double_opt_in: None) -> None:
    from crmcore.testing.admin import admin_login, csrf_token

    rep, _h = make_user("sales", username="sam")
    mine = make_customer("Mine Ltd", rep, email="mine@example.cn")
    client = admin_login(app.test_client(), "sam", lang="zh-CN")
    page = f"/admin/marketing/consents/{mine.id}"
    r = client.post(page, data={"csrf_token": csrf_token(client.get(page).text), "channel": "email",
                                "purpose": "marketing", "status": "granted", "text": AGREED}, follow_redirects=True)
    assert "确认链接已发送" in r.text and "<td>等待邮件确认</td>" in r.text and ">pending<" not in r.text
    assert [m["To"] for m in inbox.messages] == ["mine@example.cn"]
