"""The sales admin through Flask's test client: every view opens, record rules hold, writes go
through the services with CSRF, the pipeline board moves deals, the KPI dashboard draws its charts."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from crmcore.models import AuditLog
from plugins.sales.models import Opportunity, Stage
from plugins.sales.services import opportunities, stages, targets

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def login(client: Any, username: str) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/admin/auth/login")
    token = CSRF.search(page.text).group(1)
    r = client.post("/admin/auth/login", data={"csrf_token": token, "username": username, "password": PASSWORD})
    assert r.status_code == 302


def token(client: Any, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.text[:300]
    return CSRF.search(page.text).group(1)


@pytest.fixture
def deals(ctx, make_user, make_customer):
    rep_a, _ = make_user("sales", team="East", username="rep_a")
    rep_b, _ = make_user("sales", team="East", username="rep_b")
    ca, cb = make_customer("Alpha Co", rep_a), make_customer("Beta Co", rep_b)
    a = opportunities.create_opportunity(ctx, {"name": "Alpha deal", "customer_id": ca.id, "owner_id": rep_a.id,
                                               "amount": "1000"})
    b = opportunities.create_opportunity(ctx, {"name": "Beta deal", "customer_id": cb.id, "owner_id": rep_b.id,
                                               "amount": "2000"})
    targets.set_target(ctx, {"year": 2026, "month": 3, "user_id": rep_a.id, "amount": "5000"})
    return a.id, b.id


def test_every_sales_view_opens_for_an_admin(client, make_user, deals):
    make_user("admin", username="boss")
    login(client, "boss")
    for url in ("/admin/sales/board/", "/admin/sales/kpis/", "/admin/sales/lead/", "/admin/sales/opportunity/",
                "/admin/sales/activity/", "/admin/sales/quote/", "/admin/sales/order/", "/admin/sales/invoice/",
                "/admin/sales/product/", "/admin/sales/target/", "/admin/sales/stage/", "/admin/sales/metric/",
                "/admin/sales/opportunity/new/", "/admin/sales/lead/new/", "/admin/sales/metric/new/",
                "/admin/sales/kpis/?period=2026-Q1"):
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])


def test_rep_sees_own_deals_on_list_and_board_and_cannot_manage_stages(client, deals):
    login(client, "rep_a")
    page = client.get("/admin/sales/opportunity/").text
    assert "Alpha deal" in page and "Beta deal" not in page
    board = client.get("/admin/sales/board/").text
    assert "Alpha deal" in board and "Beta deal" not in board
    assert client.get("/admin/sales/stage/").status_code == 403
    assert client.get("/admin/sales/metric/").status_code == 403
    assert client.get(f"/admin/sales/opportunity/edit/?id={deals[1]}").status_code in (302, 404)


def test_board_moves_a_deal_through_the_service(client, ctx, rt, deals):
    login(client, "rep_a")
    proposal = ctx.session.scalar(select(Stage).where(Stage.name == "Proposal"))
    csrf = token(client, "/admin/sales/board/")
    assert client.post("/admin/sales/board/move", data={"opportunity_id": deals[0],
                                                        "stage_id": proposal.id}).status_code == 400  # no CSRF
    r = client.post("/admin/sales/board/move", data={"csrf_token": csrf, "opportunity_id": deals[0],
                                                     "stage_id": proposal.id})
    assert r.status_code == 302
    rt.db.session.remove()
    assert rt.db.session.get(Opportunity, deals[0]).stage_id == proposal.id
    assert rt.db.session.scalar(select(AuditLog.id).where(AuditLog.entity == "opportunity",
                                                          AuditLog.action == "updated"))
    # someone else's deal: refused, nothing moves
    r = client.post("/admin/sales/board/move", data={"csrf_token": csrf, "opportunity_id": deals[1],
                                                     "stage_id": proposal.id}, follow_redirects=True)
    assert "outside your scope" in r.text
    rt.db.session.remove()
    assert rt.db.session.get(Opportunity, deals[1]).stage_id != proposal.id


def test_create_opportunity_in_the_admin_uses_the_service(client, ctx, rt, deals):
    login(client, "rep_a")
    csrf = token(client, "/admin/sales/opportunity/new/")
    page = client.get("/admin/sales/opportunity/new/").text
    customer_value = re.search(r'<option value="(\d+)">Alpha Co', page).group(1)
    visit = ctx.session.scalar(select(Stage).where(Stage.name == "Visit"))
    r = client.post("/admin/sales/opportunity/new/", data={
        "csrf_token": csrf, "name": "Admin deal", "customer": customer_value, "stage": str(visit.id),
        "amount": "300.00", "currency": "CNY"})
    assert r.status_code == 302, r.text[:500]
    rt.db.session.remove()
    opp = rt.db.session.scalar(select(Opportunity).where(Opportunity.name == "Admin deal"))
    assert opp is not None and opp.probability == 10
    assert rt.db.session.scalar(select(AuditLog.id).where(AuditLog.entity == "opportunity",
                                                          AuditLog.entity_id == str(opp.id)))


def test_kpi_dashboard_shows_cards_and_svg_charts(client, deals):
    login(client, "rep_a")
    page = client.get("/admin/sales/kpis/?period=2026-03").text
    assert "Sales-plan completion rate" in page and 'data-kpi="plan_completion"' in page
    assert page.count("<svg") == 2 and "Pipeline by stage" in page
    assert "http://" not in page.split("<svg", 1)[1].split("</svg>")[0].replace("http://www.w3.org/2000/svg", "")
    assert "complaint" not in page.lower()  # absent, not 0
    r = client.get("/admin/sales/kpis/?period=nonsense", follow_redirects=True)
    assert r.status_code == 200 and "period" in r.text.lower()
    assert stages  # the module is imported for its default stages


def test_demo_data_loads_once_and_fills_the_board_and_dashboard(client, ctx, runner):
    from crmcore.demo import load_demo as core_demo
    from plugins.sales.cli import sales

    assert "crm demo" in runner.invoke(sales, ["demo"]).output  # needs the core demo first
    core_demo(ctx)
    result = runner.invoke(sales, ["demo"])
    assert result.exit_code == 0 and "6 opportunities" in result.output
    assert "1 quote waiting for the manager's approval" in result.output
    assert "already" in runner.invoke(sales, ["demo"]).output
    # the approval example: the rep's manager (wangfang) finds the discounted quote in her inbox
    from crmcore.models import ApprovalRequest, User
    from plugins.sales.models import Quote

    ctx.session.expire_all()
    quote = ctx.session.query(Quote).one()
    assert quote.status == "pending_approval"
    request = ctx.session.query(ApprovalRequest).filter_by(entity="quote", entity_id=quote.id).one()
    manager = ctx.session.query(User).filter_by(username="wangfang").one()
    assert request.status == "pending" and [t.approver_id for t in request.tasks] == [manager.id]
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/admin/auth/login")
    r = client.post("/admin/auth/login", data={"csrf_token": CSRF.search(page.text).group(1), "username": "admin",
                                               "password": "demo1234"})  # the core demo's password
    assert r.status_code == 302
    board = client.get("/admin/sales/board/")
    assert board.status_code == 200 and "采购" in board.text
    kpis = client.get("/admin/sales/kpis/")
    assert kpis.status_code == 200 and "拜访成功率" in kpis.text  # the demo admin reads Chinese (user setting)
