"""The journey pages with the Flask test client (CSRF on): a journey built from forms (trigger, steps, branch
targets by name), errors by field, the step diagram as escaped SVG, start/pause/resume by permission, zh_CN."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from crmcore.services import users as user_svc
from crmcore.testing.admin import admin_login, post_form
from plugins.marketing.models import Campaign
from plugins.marketing.models_journeys import Journey, JourneyBranch, JourneyStep
from plugins.marketing.services import templates

URL = "/admin/marketing/journeys"


@pytest.fixture
def manager(app: Any, ctx: Any) -> Any:
    user_svc.create_user(ctx, "mia", "password123", "manager", email="mia@shop.example", full_name="Mia")
    return admin_login(app.test_client(), "mia", lang="en")


def test_a_journey_is_built_from_forms_and_drawn(manager: Any, ctx: Any, make_user: Any, app: Any) -> None:
    template = templates.create_template(ctx, {"name": "Gift <b>", "subject": "Hi", "text": "Gift"})
    r = post_form(manager, f"{URL}/new", {"name": "", "trigger": "calendar", "calendar_rule": "nth_weekday",
                                          "month": "5", "offset_days": "10", "direction": "before"})
    assert r.status_code == 200 and 'data-field="name"' in r.text and 'data-field="nth"' in r.text
    r = post_form(manager, f"{URL}/new", {"name": "Mother's <Day>", "trigger": "calendar",
                                          "calendar_rule": "nth_weekday", "month": "5", "nth": "2", "weekday": "6",
                                          "offset_days": "10", "direction": "before", "yearly": "1"})
    assert r.status_code == 302
    campaign = ctx.session.scalar(select(Campaign).where(Campaign.kind == "journey"))
    journey = ctx.session.get(Journey, campaign.id)
    assert (journey.trigger, journey.nth, journey.weekday, journey.offset_days) == ("calendar", 2, 6, -10)
    base = f"{URL}/{campaign.id}"
    r = post_form(manager, f"{base}/steps/new?kind=send", {"name": "Send", "kind": "send", "template_id": ""})
    assert r.status_code == 200 and 'data-field="template_id"' in r.text
    assert post_form(manager, f"{base}/steps/new?kind=send", {"name": "Send <gift>", "kind": "send",
                                                              "template_id": str(template.id)}).status_code == 302
    assert post_form(manager, f"{base}/steps/new?kind=wait", {"name": "Wait", "kind": "wait",
                                                              "wait_days": "3"}).status_code == 302
    steps = {s.name: s for s in ctx.session.scalars(select(JourneyStep))}
    for kind in ("condition", "goal", "update", "activity", "notify"):  # every step form renders
        assert manager.get(f"{base}/steps/new?kind={kind}").status_code == 200
    page = manager.get(f"{base}/steps/new?kind=random")
    assert "Send &lt;gift&gt;" in page.text  # branch targets picked by name
    r = post_form(manager, f"{base}/steps/new?kind=random", {
        "name": "Split", "kind": "random", "branch_label_0": "A", "branch_share_0": "50",
        "branch_next_0": str(steps["Wait"].id), "branch_label_1": "B", "branch_share_1": "40"})
    assert r.status_code == 200 and "100" in r.text
    assert post_form(manager, f"{base}/steps/new?kind=random", {
        "name": "Split", "kind": "random", "branch_label_0": "A", "branch_share_0": "50",
        "branch_next_0": str(steps["Wait"].id), "branch_label_1": "B", "branch_share_1": "50"}).status_code == 302
    split = ctx.session.scalar(select(JourneyStep).where(JourneyStep.name == "Split"))
    assert [(b.label, b.share, b.next_step_id) for b in ctx.session.scalars(
        select(JourneyBranch).order_by(JourneyBranch.label))] == [("A", 50, steps["Wait"].id), ("B", 50, None)]
    assert post_form(manager, f"{base}/steps/{steps['Send <gift>'].id}", {
        "name": "Send <gift>", "kind": "send", "template_id": str(template.id),
        "next_step_id": str(split.id)}).status_code == 302
    page = manager.get(base)
    assert page.status_code == 200
    svg = re.search(r"<svg.*?</svg>", page.text, re.S).group(0)
    assert "Send &lt;gift&gt;" in svg and "<gift>" not in svg and "A 50%" in svg
    assert "Mother&#39;s &lt;Day&gt;" in page.text and "<Day>" not in page.text
    assert "10 days before" in page.text and "Sunday" in page.text
    # the wait is reached from the split's branch A; nothing is wrong, so the journey starts
    r = manager.post(f"{base}/start", data={"csrf_token": re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                                                                    page.text).group(1)})
    ctx.session.expire_all()
    assert r.status_code == 302 and ctx.session.get(Campaign, campaign.id).status == "running"
    _a, _h = make_user("analyst")
    analyst = admin_login(app.test_client(), _a.username, lang="zh-CN")
    page = analyst.get(base)
    assert page.status_code == 200 and "start-journey" not in page.text and "pause-journey" not in page.text
    assert analyst.get(f"{base}/steps/new?kind=wait").status_code == 403
    assert "发送消息" in page.text  # the step kind in words, in the reader's language
    history = re.search(r'<table class="table table-sm journey-history">.*?</table>', page.text, re.S).group(0)
    assert "旅程已启动" in history and "步骤已保存: Split" in history and "Mia" in history  # who, in words
    assert manager.get("/admin/marketing/campaigns/%d" % campaign.id).headers["Location"].endswith(base)


def test_problems_are_listed_by_step_before_the_start(manager: Any, ctx: Any) -> None:
    from plugins.marketing.services import journeys

    journey = journeys.create_journey(ctx, {"name": "Loop"})
    a = journeys.add_step(ctx, journey.id, {"name": "A", "kind": "wait", "wait_days": 1})
    journeys.add_step(ctx, journey.id, {"name": "B", "kind": "wait", "wait_days": 1})
    page = manager.get(f"{URL}/{journey.id}")
    assert "journey-problems" in page.text and "never reached" in page.text
    r = manager.post(f"{URL}/{journey.id}/start", data={"csrf_token": re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)}, follow_redirects=True)
    assert "cannot start" in r.text and ctx.session.get(Campaign, journey.id).status == "draft"
    assert a.id
