"""The admin ticket page's field-service and link forms (CSRF-protected, through the same services as
the API): schedule a visit, report it with parts, and issue the customer a new status link that is
shown once, kills the old one and is mailed (real SMTP server, aiosmtpd) when there is an address."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crmcore.models import AuditLog
from crmcore.services.outbox import deliver_due
from plugins.service.models import Ticket, Visit
from plugins.service.services import tickets

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
LINK = re.compile(r"/service/portal/t/([A-Za-z0-9_.\-]+)")
SH = ZoneInfo("Asia/Shanghai")


def login(client: Any, username: str) -> str:
    """Log in (English pages) and return a CSRF token for the session's forms."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    token = CSRF.search(client.get("/admin/auth/login").text).group(1)
    assert client.post("/admin/auth/login", data={"csrf_token": token, "username": username,
                                                  "password": PASSWORD}).status_code == 302
    # a login starts a new session with a new CSRF token: read it from a page of the new session
    return CSRF.search(client.get("/admin/auth/logout").text).group(1)


def test_schedule_and_report_a_visit_in_the_admin(app, client, make_user, ctx, make_customer):
    agent, _ = make_user("service", username="agent")
    tech, _ = make_user("service", username="tech")
    make_user("sales", username="rep")
    t = tickets.create_ticket(ctx, {"subject": "Heater broken", "customer_id": make_customer("Home").id})
    token = login(client, "agent")
    url = f"/admin/service/queue/ticket/{t.id}"
    page = client.get(url).text
    assert 'class="schedule-visit' in page and f'<option value="{tech.id}">tech</option>' in page
    form = {"technician_id": str(tech.id), "day": "2026-03-02", "start": "09:00", "end": "11:00",
            "timezone": "Asia/Shanghai", "address": "上海市徐汇区 1 号"}
    assert client.post(f"{url}/visit", data=form).status_code == 400  # no CSRF token: nothing happens
    assert ctx.session.scalars(select(Visit)).all() == []
    res = client.post(f"{url}/visit", data={**form, "csrf_token": token}, follow_redirects=True)
    assert "Visit scheduled." in res.text
    visit = ctx.session.scalar(select(Visit))
    assert (visit.technician_id, visit.address, visit.state) == (tech.id, "上海市徐汇区 1 号", "scheduled")
    assert visit.window_start == dt.datetime(2026, 3, 2, 9, tzinfo=SH)
    assert visit.window_end == dt.datetime(2026, 3, 2, 11, tzinfo=SH)
    assert ctx.session.scalar(select(AuditLog).where(AuditLog.entity == "service_visit",
                                                     AuditLog.actor_id == agent.id)) is not None
    # the service's rules hold: no double booking, a window needs its times
    res = client.post(f"{url}/visit", data={**form, "csrf_token": token, "start": "10:00", "end": "12:00"},
                      follow_redirects=True)
    assert "already has a visit" in res.text
    res = client.post(f"{url}/visit", data={**form, "csrf_token": token, "end": ""}, follow_redirects=True)
    assert "Give the day and the start and end times." in res.text
    assert len(ctx.session.scalars(select(Visit)).all()) == 1
    # the report: outcome and parts, one per line
    page = client.get(url).text
    assert f'/admin/service/queue/visit/{visit.id}/report' in page
    res = client.post(f"/admin/service/queue/visit/{visit.id}/report", follow_redirects=True, data={
        "csrf_token": token, "state": "done", "outcome": "Replaced the fuse",
        "parts": "FUSE-10A, 2, spare from the van\n\nCABLE-1"})
    assert "Visit report saved." in res.text and "FUSE-10A × 2" in res.text
    ctx.session.expire_all()
    visit = ctx.session.get(Visit, visit.id)
    assert (visit.state, visit.outcome) == ("done", "Replaced the fuse") and visit.completed_at is not None
    assert visit.parts_used == [{"part": "FUSE-10A", "quantity": "2", "note": "spare from the van"},
                                {"part": "CABLE-1", "quantity": "1", "note": ""}]
    res = client.post(f"/admin/service/queue/visit/{visit.id}/report", follow_redirects=True,
                      data={"csrf_token": token, "state": "done", "outcome": "again"})
    assert "already closed" in res.text
    # a rep who does not own the customer: neither the ticket nor its visit
    rep_client = app.test_client()
    rep_token = login(rep_client, "rep")
    assert rep_client.get(url).status_code == 404
    assert rep_client.post(f"/admin/service/queue/visit/{visit.id}/report",
                           data={"csrf_token": rep_token, "outcome": "x"}).status_code == 404


def test_a_rep_without_visit_rights_gets_no_visit_forms(client, make_user, ctx, make_customer):
    rep, _ = make_user("sales", username="rep")
    tech, _ = make_user("service", username="tech")
    t = tickets.create_ticket(ctx, {"subject": "Mine", "customer_id": make_customer("Own", rep).id})
    token = login(client, "rep")
    url = f"/admin/service/queue/ticket/{t.id}"
    assert 'class="schedule-visit' not in client.get(url).text
    res = client.post(f"{url}/visit", follow_redirects=True, data={
        "csrf_token": token, "technician_id": str(tech.id), "day": "2026-03-02", "start": "09:00", "end": "10:00",
        "timezone": "Asia/Shanghai", "address": "x"})
    assert res.status_code == 200 and ctx.session.scalars(select(Visit)).all() == []


def test_new_status_link_from_the_admin_is_shown_once_and_mailed(make_app, smtp, make_user):
    inbox, port = smtp
    app = make_app(PLUGINS=["plugins.service"], SERVICE_SMTP_HOST="127.0.0.1", SERVICE_SMTP_PORT=port,
                   SERVICE_PUBLIC_URL="https://crm.example.com")
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    try:
        from crmcore.services import users as user_svc

        user_svc.create_user(ctx, "agent", PASSWORD, "service")
        portal_client = app.test_client()
        form = portal_client.get("/service/portal/new", headers={"Accept-Language": "zh-CN"}).text
        res = portal_client.post("/service/portal/new", headers={"Accept-Language": "zh-CN"}, data={
            "csrf_token": CSRF.search(form).group(1), "name": "王芳", "email": "wang@example.cn",
            "subject": "空调不制冷", "description": "开机后只吹热风"})
        old = LINK.search(res.text).group(1)
        deliver_due(ctx)  # the confirmation
        assert len(inbox.messages) == 1
        ticket = ctx.session.scalar(select(Ticket))

        client = app.test_client()
        token = login(client, "agent")
        url = f"/admin/service/queue/ticket/{ticket.id}"
        assert "email-unconfirmed" in client.get(url).text  # the agent sees the address is unproven
        assert client.post(f"{url}/link", data={}).status_code == 400  # no CSRF token
        assert portal_client.get(f"/service/portal/t/{old}").status_code == 200  # still the old link
        res = client.post(f"{url}/link", data={"csrf_token": token})
        assert res.status_code == 200 and res.headers["Cache-Control"] == "no-store"
        shown = LINK.search(res.text).group(1)
        assert f"https://crm.example.com/service/portal/t/{shown}" in res.text
        assert "It is also being sent to wang@example.cn." in res.text
        assert LINK.search(client.get(url).text) is None  # shown once: not on the page again
        assert portal_client.get(f"/service/portal/t/{old}").status_code == 404
        assert portal_client.get(f"/service/portal/t/{shown}").status_code == 200
        deliver_due(ctx)
        assert len(inbox.messages) == 2
        mail = inbox.messages[-1]
        assert inbox.envelopes[-1][1] == ["wang@example.cn"] and mail["Content-Language"] == "zh-CN"
        # the address is not confirmed yet: the mail carries a new confirmation link, not the status link
        assert LINK.search(mail.get_content()) is None
        mailed = re.search(r"/service/portal/confirm/([A-Za-z0-9_.\-]+)", mail.get_content()).group(1)
        assert portal_client.get(f"/service/portal/confirm/{mailed}").status_code == 200
        assert "之前的链接已失效" in mail.get_content()  # zh_CN catalogue: "Earlier links no longer work."
        assert ctx.session.scalar(select(AuditLog).where(AuditLog.action == "link_issued")) is not None
    finally:
        ctx.session.close()


def test_no_mail_for_a_ticket_without_an_address(client, make_user, ctx):
    make_user("service", username="agent")
    t = tickets.create_ticket(ctx, {"subject": "Walk-in"})
    token = login(client, "agent")
    res = client.post(f"/admin/service/queue/ticket/{t.id}/link", data={"csrf_token": token})
    assert res.status_code == 200 and LINK.search(res.text) is not None
    assert "No e-mail is sent" in res.text
