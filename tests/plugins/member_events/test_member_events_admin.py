"""The member events' admin pages in Chinese: the event form (times on the event's clocks, the audience picked
by name), the list with the answers in words, the invitations filtered by event, and who may do what."""
from __future__ import annotations

import re

from crmcore.testing.admin import admin_login, post_form
from plugins.marketing.services import audiences
from plugins.member_events.models import Invitation, MemberEvent
from plugins.member_events.services import events, invitations

CODES = re.compile(r">\s*(pending|yes|no|maybe)\s*<")


def test_event_form_list_and_invitations_in_chinese(client, ctx, make_user, make_customer):
    make_user("admin", username="boss")
    admin_login(client, "boss", lang="zh-CN")
    audience = audiences.create_audience(ctx, {"name": "老客户", "condition": {
        "field": "stage", "op": "eq", "value": "customer"}})
    for name in ("张三", "李四"):
        make_customer(name, stage="customer")
    page = client.get("/admin/member-events/event/new/")
    assert page.status_code == 200 and "老客户" in page.text and "名额（留空则不限）" in page.text
    r = post_form(client, "/admin/member-events/event/new/", {
        "name": "品茶会", "starts_at": "2030-03-01T19:00", "ends_at": "2030-03-01T18:00", "timezone": "Asia/Shanghai",
        "place": "杭州", "capacity": "10", "audience_id": str(audience.id)})
    assert r.status_code == 200 and "结束时间早于开始时间" in r.text  # refused in Chinese, the form kept
    r = post_form(client, "/admin/member-events/event/new/", {
        "name": "品茶会", "starts_at": "2030-03-01T19:00", "ends_at": "2030-03-01T21:00", "timezone": "Asia/Shanghai",
        "place": "杭州", "capacity": "10", "audience_id": str(audience.id)})
    assert r.status_code == 302, r.text[-1500:]
    event = ctx.session.query(MemberEvent).one()
    assert event.starts_at.hour == 11 and event.audience_id == audience.id  # 19:00 in Shanghai, stored UTC
    edit = client.get(f"/admin/member-events/event/edit/?id={event.id}")
    assert 'value="2030-03-01T19:00"' in edit.text  # shown again on the event's clocks

    assert invitations.invite(ctx, event.id, {}) == {"invited": 2, "already": 0}
    inv = ctx.session.query(Invitation).order_by(Invitation.id).first()
    invitations.answer(ctx, invitations.token(ctx, "rsvp", inv.id), {"response": "yes"})
    listing = client.get("/admin/member-events/event/")
    assert "2030-03-01 19:00" in listing.text and "参加 1" in listing.text and "尚未答复 1" in listing.text
    answers = client.get(f"/admin/member-events/invitation/?flt0_0={event.id}")
    assert answers.status_code == 200 and "张三" in answers.text and "李四" in answers.text
    assert "参加" in answers.text and "尚未答复" in answers.text and not CODES.search(answers.text)
    assert client.get("/admin/member-events/checkin/").status_code == 200


def test_a_sales_rep_sees_events_and_checks_in_but_does_not_set_them_up(app, client, ctx, make_user):
    make_user("sales", username="rep")
    admin_login(client, "rep", lang="en")
    events.save_event(ctx, {"name": "Club", "place": "Shanghai", "starts_at": "2030-03-01T19:00"})
    assert client.get("/admin/member-events/event/").status_code == 200
    assert client.get("/admin/member-events/checkin/").status_code == 200
    assert client.get("/admin/member-events/event/new/").status_code in (302, 403)
    make_user("analyst", username="ana")
    other = admin_login(app.test_client(), "ana", lang="en")
    assert other.get("/admin/member-events/event/").status_code == 200
    assert other.get("/admin/member-events/checkin/").status_code in (302, 403)
