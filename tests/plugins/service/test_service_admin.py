"""The service admin through Flask's test client: every view opens, the queue shows SLA timers and
follows the record rules, the schedule and the quality report render, writes go through services."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crmcore.errors import PermissionDenied
from crmcore.models import AuditLog
from plugins.service.models import Category
from plugins.service.services import quality, sla, tickets, visits

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
SH = ZoneInfo("Asia/Shanghai")


def login(client: Any, username: str) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/admin/auth/login")
    token = CSRF.search(page.text).group(1)
    r = client.post("/admin/auth/login", data={"csrf_token": token, "username": username, "password": PASSWORD})
    assert r.status_code == 302


def test_every_view_opens_for_an_admin(client, make_user, ctx, make_customer):
    make_user("admin", username="boss")
    sla.save_calendar(ctx, {"name": "SH", "timezone": "Asia/Shanghai", "weekly": {"1": [["09:00", "18:00"]]},
                            "days": [{"day": "2026-10-01", "kind": "holiday"}]})
    login(client, "boss")
    assert "2026-10-01 holiday" in client.get("/admin/service/calendar/").text
    for url in ("/admin/service/queue/", "/admin/service/schedule/", "/admin/service/quality-report/",
                "/admin/service/ticket/", "/admin/service/followup/", "/admin/service/quality/",
                "/admin/service/category/", "/admin/service/sla-policy/", "/admin/service/ticket/new/", "/admin/service/calendar/",
                "/admin/service/category/new/"):
        assert client.get(url).status_code == 200, url


def test_queue_shows_sla_timers_and_follows_record_rules(client, make_user, ctx, make_customer):
    rep, _ = make_user("sales", username="rep")
    other, _ = make_user("sales", username="other")
    sla.save_policy(ctx, {"name": "Normal", "priority": "normal", "first_response_minutes": 60,
                          "resolution_minutes": 600})
    now = dt.datetime.now(dt.timezone.utc)
    late = tickets.create_ticket(ctx, {"subject": "Late one", "customer_id": make_customer("A", rep).id},
                                 now=now - dt.timedelta(hours=2))
    sla.check_breaches(ctx)
    tickets.create_ticket(ctx, {"subject": "Fresh one", "customer_id": make_customer("B", rep).id})
    tickets.create_ticket(ctx, {"subject": "Not yours", "customer_id": make_customer("C", other).id})
    login(client, "rep")
    html = client.get("/admin/service/queue/").text
    assert "Late one" in html and "Fresh one" in html and "Not yours" not in html
    row = re.search(rf'<tr[^>]*data-ticket="{late.id}".*?</tr>', html, re.S).group(0)
    assert "table-danger" in row and "late" in row
    assert "Not yours" not in client.get("/admin/service/ticket/").text


def test_create_through_the_admin_is_audited(client, make_user, ctx):
    make_user("manager", username="mgr")
    login(client, "mgr")
    page = client.get("/admin/service/category/new/")
    token = CSRF.search(page.text).group(1)
    res = client.post("/admin/service/category/new/", data={"csrf_token": token, "name": "Installation",
                                                             "kind": "request", "active": "y"})
    assert res.status_code == 302
    cat = ctx.session.scalar(select(Category))
    assert cat.name == "Installation"
    assert ctx.session.scalar(select(AuditLog).where(AuditLog.entity == "service_category")) is not None
    # without the CSRF token nothing is created
    client.post("/admin/service/category/new/", data={"name": "Sneaky", "kind": "request"})
    assert ctx.session.scalars(select(Category)).all() == [cat]


def test_schedule_and_quality_report(app, client, make_user, ctx, make_customer):
    make_user("manager", username="mgr", team="Field")  # a manager sees the schedules of the team's technicians
    tech, _ = make_user("service", username="tech", team="Field")
    t = tickets.create_ticket(ctx, {"subject": "Heater", "customer_id": make_customer("Home").id})
    visits.schedule_visit(ctx, t.id, {"technician_id": tech.id, "window_start": dt.datetime(2026, 3, 2, 9, tzinfo=SH),
                                      "window_end": dt.datetime(2026, 3, 2, 11, tzinfo=SH), "address": "上海 1 号"})
    quality.save_record(ctx, {"product_code": "HEAT-9", "description": "Fuse", "reported_at":
                              dt.datetime(2026, 3, 5, tzinfo=dt.timezone.utc)})
    login(client, "mgr")
    html = client.get("/admin/service/schedule/?day=2026-03-02").text
    assert "09:00–11:00" in html and "上海 1 号" in html and "tech" in html
    assert "上海 1 号" not in client.get("/admin/service/schedule/?day=2026-03-03").text
    report = client.get("/admin/service/quality-report/?month=2026-03").text
    assert "HEAT-9" in report and "On-time dispatch" in report
    # a sales rep may not open the quality report
    make_user("sales", username="rep")
    rep_client = app.test_client()
    login(rep_client, "rep")
    assert rep_client.get("/admin/service/quality-report/").status_code == 403


def test_agent_works_a_ticket_in_the_admin(app, client, make_user, ctx, make_customer):
    agent, _ = make_user("service", username="agent")
    make_user("sales", username="rep")
    t = tickets.create_ticket(ctx, {"subject": "Screen flickers", "customer_id": make_customer("Home").id})
    login(client, "agent")
    url = f"/admin/service/queue/ticket/{t.id}"
    page = client.get(url)
    assert page.status_code == 200 and "Screen flickers" in page.text
    token = CSRF.search(page.text).group(1)
    assert client.post(f"{url}/take", data={"csrf_token": token}).status_code == 302
    client.post(f"{url}/reply", data={"csrf_token": token, "body": "Please send a photo"})
    client.post(f"{url}/reply", data={"csrf_token": token, "body": "Probably the cable", "internal": "y"})
    client.post(f"{url}/move", data={"csrf_token": token, "state": "waiting_on_customer"})
    res = client.post(f"{url}/move", data={"csrf_token": token, "state": "reopened"}, follow_redirects=True)
    assert "cannot move" in res.text  # the service's error is shown, nothing changes
    ctx.session.expire_all()
    t = tickets.get_ticket(ctx, t.id)
    assert (t.assignee_id, t.state) == (agent.id, "waiting_on_customer")
    assert [(m.body, m.internal) for m in t.messages] == [("Please send a photo", False), ("Probably the cable", True)]
    # without the CSRF token nothing happens
    assert client.post(f"{url}/reply", data={"body": "forged"}).status_code == 400
    # a rep who does not own the customer gets a 404, not the ticket
    rep_client = app.test_client()
    login(rep_client, "rep")
    assert rep_client.get(url).status_code == 404


def test_ticket_opened_by_phone_in_the_admin(client, make_user, ctx, make_customer):
    agent, _ = make_user("service", username="agent")
    customer = make_customer("Caller Co")
    login(client, "agent")
    page = client.get("/admin/service/ticket/new/")
    token = CSRF.search(page.text).group(1)
    res = client.post("/admin/service/ticket/new/", data={
        "csrf_token": token, "subject": "电话报修：空调不制冷", "customer": str(customer.id), "kind": "incident",
        "priority": "high", "description": "客户来电", "assignee": str(agent.id)})
    assert res.status_code == 302, res.text[:500]
    t = tickets.list_tickets(ctx)[0][0]
    assert (t.subject, t.customer_id, t.channel, t.priority, t.assignee_id, t.state) == (
        "电话报修：空调不制冷", customer.id, "phone", "high", agent.id, "assigned")
    assert ctx.session.scalar(select(AuditLog).where(AuditLog.entity == "service_ticket",
                                                     AuditLog.actor_id == agent.id)) is not None


def test_rules_are_edited_in_the_admin(client, make_user, ctx):
    from plugins.service.models import AssignmentRule, FollowUpRule

    make_user("manager", username="mgr")
    a, _ = make_user("service", username="agent_a")
    b, _ = make_user("service", username="agent_b")
    login(client, "mgr")
    token = CSRF.search(client.get("/admin/service/assignment-rule/new/").text).group(1)
    res = client.post("/admin/service/assignment-rule/new/", data={
        "csrf_token": token, "name": "Everyone", "strategy": "least_loaded", "members": [str(a.id), str(b.id)],
        "position": "10", "active": "y"})
    assert res.status_code == 302
    rule = ctx.session.scalar(select(AssignmentRule))
    assert (rule.strategy, rule.member_ids, rule.category_id) == ("least_loaded", [a.id, b.id], None)
    assert "agent_a" in client.get("/admin/service/assignment-rule/").text
    res = client.post("/admin/service/followup-rule/new/", data={
        "csrf_token": token, "name": "回访", "trigger": "ticket", "offsets": "3，30, 90", "channel": "phone",
        "active": "y"})
    assert res.status_code == 302
    assert ctx.session.scalar(select(FollowUpRule)).offsets_days == [3, 30, 90]
    res = client.post("/admin/service/followup-rule/new/", data={
        "csrf_token": token, "name": "Bad", "trigger": "ticket", "offsets": "soon", "channel": "phone"})
    assert res.status_code == 200 and "e.g. [3, 30, 90]" in res.text
    assert len(ctx.session.scalars(select(FollowUpRule)).all()) == 1
    # an agent sees the rules but cannot change them
    agent_client = client.application.test_client()
    login(agent_client, "agent_a")
    assert agent_client.get("/admin/service/assignment-rule/").status_code == 200
    assert agent_client.get("/admin/service/assignment-rule/new/").status_code in (302, 403)


def test_states_and_moves_are_data_edited_in_the_admin(client, make_user, ctx, make_customer):
    boss, _ = make_user("manager", username="mgr", team="Support")
    agent, _ = make_user("service", username="agent")
    login(client, "mgr")
    token = CSRF.search(client.get("/admin/service/ticket-state/new/").text).group(1)
    res = client.post("/admin/service/ticket-state/new/", data={
        "csrf_token": token, "key": "on_hold", "name": "On hold (parts ordered)", "phase": "paused", "position": "35"})
    assert res.status_code == 302
    assert "on_hold" in client.get("/admin/service/ticket-move/new/").text  # offered as a state at once
    res = client.post("/admin/service/ticket-move/new/", data={
        "csrf_token": token, "from_state": "in_progress", "to_state": "on_hold", "roles": "manager"})
    assert res.status_code == 302
    client.post("/admin/service/ticket-move/new/", data={"csrf_token": token, "from_state": "on_hold",
                                                         "to_state": "in_progress", "roles": ""})
    assert "manager" in client.get("/admin/service/ticket-move/").text
    # the new state works at once: only a manager may put a ticket on hold, and it pauses the clock
    t = tickets.create_ticket(ctx, {"subject": "Needs a part", "customer_id": make_customer("A", boss).id})
    tickets.transition(ctx, t.id, "in_progress")
    with pytest.raises(PermissionDenied):
        tickets.transition(ctx.runtime.context(actor=agent), t.id, "on_hold")
    moved = tickets.transition(ctx.runtime.context(actor=boss), t.id, "on_hold")
    assert moved.state == "on_hold" and moved.paused_since is not None
    # a bad key is refused with its reason
    res = client.post("/admin/service/ticket-state/new/", data={
        "csrf_token": token, "key": "on hold!", "name": "x", "phase": "open"})
    assert res.status_code == 200 and "Letters, digits and underscores" in res.text
