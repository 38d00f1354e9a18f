"""Member events end to end: an event in its own time zone, invitations to a marketing audience, answers
through the signed link (capacity, changes until the start, forged links), the QR code's check-in by staff,
attendance on the timeline and the ``member_event.attended`` event."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from crmcore import hookimpl
from crmcore.errors import ValidationError
from crmcore.models import Interaction
from crmcore.testing.admin import admin_login, form_token
from plugins.marketing.services import audiences
from plugins.member_events.models import Invitation
from plugins.member_events.services import events, invitations


def soon(**delta: float) -> str:
    """A time ``delta`` from now, with its offset."""
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(**delta)).isoformat()


class Listener:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def crm_event(self, event: Any) -> None:
        if event.name == "member_event.attended":
            self.events.append(event)


def test_an_events_time_is_entered_on_its_own_clocks_and_stored_in_utc(ctx, make_event):
    event = make_event(days=3, ends_at=None)
    assert event.starts_at.tzinfo is not None and event.starts_at.hour == 11  # 19:00 in Shanghai
    assert events.local_start(event).hour == 19
    other = events.save_event(ctx, {"name": "Tokyo", "place": "Ginza", "timezone": "Asia/Tokyo",
                                    "starts_at": "2030-05-01T19:00:00+08:00"})
    assert events.local_start(other).hour == 20  # an instant with an offset stays that instant
    with pytest.raises(ValidationError) as exc:
        events.save_event(ctx, {"name": "Bad", "place": "x", "timezone": "Mars/Base", "starts_at": "2030-05-01T19:00",
                                "ends_at": "2030-05-01T18:00"})
    assert "timezone" in exc.value.errors


def test_invite_an_audience_answer_by_link_and_check_in_by_qr_code(client, ctx, rt, make_user, make_customer,
                                                                   make_event):
    listener = Listener()
    rt.pm.register(listener)
    try:
        vip = [make_customer(f"VIP {i}", stage="customer") for i in range(3)]
        make_customer("Lead", stage="lead")
        audience = audiences.create_audience(ctx, {"name": "Customers", "condition": {
            "field": "stage", "op": "eq", "value": "customer"}})
        event = make_event(capacity=2, audience_id=audience.id)
        assert invitations.invite(ctx, event.id, {}) == {"invited": 3, "already": 0}
        assert invitations.invite(ctx, event.id, {}) == {"invited": 0, "already": 3}

        _, staff = make_user("sales")
        listed = client.get(f"/api/v1/events/{event.id}/invitations", headers=staff).json
        assert listed["total"] == 3 and {i["customer_name"] for i in listed["items"]} == {c.name for c in vip}
        links = {i["customer_id"]: i["rsvp_url"] for i in listed["items"]}
        assert all(url.startswith("https://crm.example.cn/events/r/") for url in links.values())

        def answer(customer: Any, response: str, lang: str = "en") -> Any:
            path = links[customer.id].split("crm.example.cn", 1)[1]
            page = client.get(path, headers={"Accept-Language": lang})
            assert page.status_code == 200 and event.name in page.text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            return client.post(path, data={"csrf_token": token, "response": response},
                               headers={"Accept-Language": lang})

        first = answer(vip[0], "yes")
        assert first.status_code == 200 and "<svg" in first.text  # the entry pass after a yes
        assert answer(vip[1], "yes").status_code == 200
        full = answer(vip[2], "yes", lang="zh-CN")
        assert full.status_code == 422 and "已满" in full.text  # the third yes: no room, in the reader's words
        assert answer(vip[2], "maybe").status_code == 200
        assert answer(vip[0], "no").status_code == 200  # changed: a place is free again
        assert answer(vip[2], "yes").status_code == 200
        got = client.get(f"/api/v1/events/{event.id}", headers=staff).json
        assert got["answers"] == {"pending": 0, "yes": 2, "no": 1, "maybe": 0}
        forged = links[vip[1].id].split("crm.example.cn", 1)[1][:-2] + "xx"
        assert client.get(forged).status_code == 404

        # the guest's QR code holds the check-in page's address with the guest's token; check-in opens 12 hours
        # before the start
        events.save_event(ctx, {"starts_at": soon(hours=1)}, event.id)
        guest = ctx.session.query(Invitation).filter_by(customer_id=vip[2].id).one()
        qr_url = invitations.checkin_url(ctx, guest)
        assert qr_url.startswith("https://crm.example.cn/admin/member-events/checkin/?token=")
        rsvp_token = links[vip[2].id].rsplit("/", 1)[1]
        r = client.post("/api/v1/events/checkin", json={"token": rsvp_token}, headers=staff)
        assert r.status_code == 422  # the answer link is no entry pass
        r = client.post("/api/v1/events/checkin", json={"token": qr_url}, headers=staff)
        assert r.status_code == 200 and r.json["checked_in_at"], r.json
        again = client.post("/api/v1/events/checkin", json={"token": qr_url}, headers=staff)
        assert again.status_code == 200 and again.json["checked_in_at"] == r.json["checked_in_at"]
        assert len(listener.events) == 1
        sent = listener.events[0]
        assert sent.data["customer_id"] == vip[2].id and sent.data["event_id"] == event.id
        timeline = ctx.session.query(Interaction).filter_by(customer_id=vip[2].id, channel="meeting").all()
        assert len(timeline) == 1 and event.name in timeline[0].subject
        assert events.counts(ctx, [event.id])[event.id]["checked_in"] == 1
        _, boss = make_user("admin")
        panel = client.get(f"/api/v1/customers/{vip[2].id}/panels", headers={**boss, "Accept-Language": "zh-CN"})
        [shown] = [p for p in panel.json if p["key"] == "member_events"]
        assert shown["title"] == "会员活动" and shown["rows"][0][1] == "参加 · 已签到"
    finally:
        rt.pm.unregister(listener)


def test_answers_close_when_the_event_starts_and_check_in_waits_for_its_day(ctx, make_customer, make_event):
    alice = make_customer("Alice")
    later = make_event(name="Later", days=5)
    invitations.invite(ctx, later.id, {"customer_ids": [alice.id]})
    inv = ctx.session.query(Invitation).filter_by(event_id=later.id).one()
    with pytest.raises(ValidationError) as exc:
        invitations.check_in(ctx, {"token": invitations.token(ctx, "checkin", inv.id)})
    assert "12 hours before the start" in exc.value.errors["token"][0]
    events.save_event(ctx, {"starts_at": soon(minutes=-5)}, later.id)
    with pytest.raises(ValidationError) as exc:
        invitations.answer(ctx, invitations.token(ctx, "rsvp", inv.id), {"response": "yes"})
    assert "started" in exc.value.errors["response"][0]
    invitation, new = invitations.check_in(ctx, {"token": invitations.token(ctx, "checkin", inv.id)})
    assert new and invitation.checked_in_at is not None  # a guest who did not answer still comes in


def test_staff_check_in_page_opened_by_the_qr_code(client, ctx, make_user, make_customer, make_event):
    make_user("service", username="door")
    admin_login(client, "door", lang="zh-CN")
    bob = make_customer("王小明")
    event = make_event(name="今晚活动", days=3)
    events.save_event(ctx, {"starts_at": soon(hours=2)}, event.id)
    invitations.invite(ctx, event.id, {"customer_ids": [bob.id]})
    inv = ctx.session.query(Invitation).filter_by(event_id=event.id).one()
    url = invitations.checkin_url(ctx, inv).split("crm.example.cn", 1)[1]
    page = client.get(url)
    assert page.status_code == 200 and "王小明" in page.text and "尚未答复" in page.text
    r = client.post("/admin/member-events/checkin/", data={"csrf_token": form_token(client, url),
                                                          "token": invitations.token(ctx, "checkin", inv.id)},
                    follow_redirects=True)
    assert "王小明 已在今晚活动签到" in r.text
    ctx.session.expire_all()
    assert ctx.session.get(Invitation, inv.id).checked_in_at is not None
    bad = client.get("/admin/member-events/checkin/?token=forged")
    assert "不是我们嘉宾的二维码" in bad.text
