"""The campaign pages with the Flask test client (CSRF on): a draft by name with errors by field, readiness in
words, a test to yourself, start with a confirmation (the service's 422 as a flash), pause and resume by
permission, the report with its SVG charts and the recipients' CSV; and a customer's consents in scope."""
from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from crmcore.services import users as user_svc
from crmcore.testing.admin import admin_login, csrf_token
from plugins.marketing.models import Campaign
from plugins.marketing.services import audiences, campaigns, consent, templates

URL = "/admin/marketing/campaigns"


@pytest.fixture
def manager(app: Any, ctx: Any) -> Any:
    user_svc.create_user(ctx, "mia", "password123", "manager", email="mia@shop.example", full_name="Mia")
    return admin_login(app.test_client(), "mia", lang="en")


@pytest.fixture
def setup(ctx: Any, subscriber: Any) -> dict[str, Any]:
    subscriber("Ann <i>", "ann@example.cn", level="VIP")
    subscriber("Bo", "bo@example.cn", level="VIP")
    subscriber("Cai", "cai@example.cn", consent_given=False, level="VIP")
    subscriber("Dai", None, level="VIP")
    audience = audiences.create_audience(ctx, {"name": "VIPs", "condition": {"field": "level", "op": "eq",
                                                                              "value": "VIP"}})
    nobody = audiences.create_audience(ctx, {"name": "Nobody", "condition": {"field": "level", "op": "eq",
                                                                              "value": "none"}})
    template = templates.create_template(ctx, {"name": "Spring", "subject": "Hi {{ customer.name }}",
                                               "text": "Spring sale"})
    return {"audience": audience, "nobody": nobody, "template": template}


def post(client: Any, url: str, page: str, **data: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client.get(page).text), **data}, follow_redirects=True)


def test_a_draft_by_name_with_errors_by_field(manager: Any, ctx: Any, setup: dict[str, Any]) -> None:
    form = manager.get(f"{URL}/new").text
    assert ">VIPs</option>" in form and ">Spring</option>" in form
    r = post(manager, f"{URL}/new", f"{URL}/new", name="Spring sale", audience_id="", template_id=str(setup["template"].id),
             holdout_percent="90")
    assert 'data-field="holdout_percent"' in r.text and 'data-field="audience_id"' in r.text
    assert 'value="Spring sale"' in r.text  # what was typed stays
    r = post(manager, f"{URL}/new", f"{URL}/new", name="Spring sale", audience_id=str(setup["audience"].id),
             template_id=str(setup["template"].id), holdout_percent="0")
    campaign = ctx.session.query(Campaign).one()
    assert campaign.audience_id == setup["audience"].id and "Draft" in r.text
    assert 'class="readiness-no_consent"><th>Without consent</th><td class="text-right">1<' in r.text
    assert 'class="readiness-no_address"><th>Without an address</th><td class="text-right">1<' in r.text
    assert 'class="readiness-reachable"><th>Reachable</th><td class="text-right">2<' in r.text
    assert ">draft<" not in manager.get(f"{URL}/").text


def test_test_start_pause_resume_and_the_report(manager: Any, ctx: Any, setup: dict[str, Any], inbox: Any) -> None:
    campaign = campaigns.create_campaign(ctx, {"name": "Spring", "audience_id": setup["audience"].id,
                                               "template_id": setup["template"].id})
    page = f"{URL}/{campaign.id}"
    r = post(manager, f"{page}/test", page)
    assert "A test message was sent to mia@shop.example" in r.text
    assert [m["To"] for m in inbox.messages] == ["mia@shop.example"]
    r = post(manager, f"{page}/start", page)  # not confirmed: nothing happens
    assert "Tick the box" in r.text and ctx.session.get(Campaign, campaign.id).status == "draft"
    r = post(manager, f"{page}/start", page, confirm="1")
    assert "The campaign is being sent." in r.text and "Sending" in r.text
    r = post(manager, f"{page}/pause", page)
    assert "Paused" in r.text and "resume-campaign" in r.text
    r = post(manager, f"{page}/resume", page)
    assert "pause-campaign" in r.text
    edit = manager.get(f"{page}/edit", follow_redirects=True).text  # a started campaign is no draft any more
    assert "cannot be changed" in edit and "save-campaign" not in edit
    ctx.session.expire_all()  # the pages changed the campaign in their own session
    assert campaigns.send_campaign(ctx, campaign.id)["sent"] == 2
    report = manager.get(page).text
    assert "<svg" in report and "Funnel" in report and 'class="funnel-sent"><th>Sent</th><td class="text-right">2<' in report
    assert "No control group: the lift cannot be measured." in report
    assert "<i>" not in report  # every name escaped
    rows = list(csv.reader(io.StringIO(manager.get(f"{page}/recipients.csv").text.lstrip("\ufeff"))))
    assert rows[0] == ["Customer", "Status", "Sent at", "Opened the message", "Clicked"]
    assert sorted(r[0] for r in rows[1:]) == ["Ann <i>", "Bo"] and {r[1] for r in rows[1:]} == {"Sent"}
    assert all(r[2] and r[3] == "No" for r in rows[1:])


def test_a_start_the_service_refuses_is_flashed(manager: Any, ctx: Any, setup: dict[str, Any], inbox: Any) -> None:
    campaign = campaigns.create_campaign(ctx, {"name": "Empty", "audience_id": setup["nobody"].id,
                                               "template_id": setup["template"].id})
    page = f"{URL}/{campaign.id}"
    r = post(manager, f"{page}/start", page, confirm="1")
    assert "alert-danger" in r.text and "nobody" in r.text.lower()
    assert ctx.session.get(Campaign, campaign.id).status == "draft" and inbox.messages == []


def test_only_senders_start_and_analysts_only_read(app: Any, ctx: Any, setup: dict[str, Any], make_user: Any) -> None:
    campaign = campaigns.create_campaign(ctx, {"name": "Spring", "audience_id": setup["audience"].id,
                                               "template_id": setup["template"].id})
    make_user("analyst", username="ana")
    client = admin_login(app.test_client(), "ana", lang="en")
    page = f"{URL}/{campaign.id}"
    shown = client.get(page).text
    assert "Readiness" in shown and "start-campaign" not in shown and "send-test" not in shown
    token = csrf_token(client.get("/admin/marketing/audiences/" + str(setup["audience"].id)).text)
    assert client.post(f"{page}/start", data={"csrf_token": token, "confirm": "1"}).status_code == 403
    assert client.get(f"{URL}/new").status_code == 403
    assert ctx.session.get(Campaign, campaign.id).status == "draft"
    assert client.post(f"{page}/pause", data={"confirm": "1"}).status_code == 400  # no CSRF token


def test_a_rep_records_consent_for_their_customers(app: Any, ctx: Any, make_user: Any, make_customer: Any) -> None:
    rep, _h = make_user("sales", username="sam")
    mine, other = make_customer("Mine Ltd", rep), make_customer("Other Ltd")
    client = admin_login(app.test_client(), "sam", lang="zh-CN")
    found = client.get("/admin/marketing/consents/?q=Ltd").text
    assert "Mine Ltd" in found and "Other Ltd" not in found
    page = f"/admin/marketing/consents/{mine.id}"
    form = client.get(page).text
    assert "邮箱" in form and ">email<" not in form
    r = post(client, page, page, channel="email", purpose="marketing", status="granted", text="")
    assert 'data-field="text"' in r.text and consent.history(ctx, mine.id) == []
    r = post(client, page, page, channel="email", purpose="marketing", status="granted", text="同意接收优惠")
    assert "<td>同意接收优惠</td>" in r.text and "<td>已同意</td>" in r.text and ">granted<" not in r.text
    assert consent.latest_status(ctx, mine.id, "email") == "granted"
    r = post(client, page, page, channel="email", purpose="marketing", status="withdrawn", text="")
    assert consent.latest_status(ctx, mine.id, "email") == "withdrawn" and "<td>已撤回</td>" in r.text
    assert "此客户的负责人不在您的数据范围内。" in client.get(f"/admin/marketing/consents/{other.id}",
                                                  follow_redirects=True).text
    r = post(client, f"/admin/marketing/consents/{other.id}", page, channel="email", status="granted", text="x")
    assert consent.history(ctx, other.id) == []


def test_the_campaign_pages_in_chinese_without_codes(app: Any, ctx: Any, setup: dict[str, Any],
                                                     make_user: Any) -> None:
    campaign = campaigns.create_campaign(ctx, {"name": "春季", "audience_id": setup["audience"].id,
                                               "template_id": setup["template"].id, "holdout_percent": 10})
    make_user("manager", username="zhang")
    client = admin_login(app.test_client(), "zhang", lang="zh-CN")
    listing = client.get(f"{URL}/").text
    assert '<td class="campaign-state">草稿</td>' in listing and ">draft<" not in listing
    page = client.get(f"{URL}/{campaign.id}").text
    for words in ("没有地址", "未同意", "可触达", "给我发一封测试邮件", "开始营销活动", "VIPs", "Spring"):
        assert words in page, words
    assert "audience_id" not in page and ">no_consent<" not in page
    form = client.get(f"{URL}/{campaign.id}/edit").text
    assert "保存草稿" in form and f'<option value="{setup["audience"].id}" selected>VIPs</option>' in form


def test_the_report_shows_the_lift_with_its_interval(app: Any, manager: Any, ctx: Any, setup: dict[str, Any],
                                                     make_customer: Any) -> None:
    from crmcore.db import utcnow
    from plugins.marketing.models import Recipient

    campaign = campaigns.create_campaign(ctx, {"name": "Measured", "audience_id": setup["audience"].id,
                                               "template_id": setup["template"].id, "holdout_percent": 50})
    people = [make_customer(f"P{i}") for i in range(60)]  # 30 sent, 30 held out: enough for an interval
    ctx.session.add_all(Recipient(campaign_id=campaign.id, customer_id=p.id, status="sent" if i < 30 else "held_out",
                                  sent_at=utcnow() if i < 30 else None) for i, p in enumerate(people))
    campaign.status, campaign.started_at = "done", utcnow()
    ctx.session.commit()
    page = manager.get(f"{URL}/{campaign.id}").text
    assert "95% interval: +0.0 points to +0.0 points" in page and "lift-note" not in page  # points, not percent
    assert page.count("<svg") == 2  # the funnel and the conversion rates
    zh = admin_login(app.test_client(), "mia", lang="zh-CN").get(f"{URL}/{campaign.id}").text
    assert "95% 置信区间：+0.0 个百分点 至 +0.0 个百分点" in zh and "转化率" in zh
