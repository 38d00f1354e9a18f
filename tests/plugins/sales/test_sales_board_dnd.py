"""The pipeline board: cards move by drag and drop (a served script posts to the board's move URL,
CSRF-protected, through the opportunities service; JSON answers for the script), the per-card form
stays for browsers without JavaScript, and the owner filter lists sales people by name."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from crmcore.models import User
from crmcore.testing.admin import admin_login, csrf_token
from plugins.sales.models import Opportunity, Stage
from plugins.sales.services import opportunities

JSON = {"Accept": "application/json"}


@pytest.fixture
def deals(ctx: Any, make_user: Any, make_customer: Any) -> dict[str, Any]:
    rep_a, _ = make_user("sales", team="East", username="rep_a")
    rep_a.full_name = "Amy Zhang"
    rep_b, _ = make_user("sales", team="East", username="rep_b")
    rep_b.full_name = "Bo Li"
    make_user("service", username="agent_c")
    make_user("manager", team="East", username="boss")
    a = opportunities.create_opportunity(ctx, {"name": "Alpha deal", "customer_id": make_customer("Alpha Co", rep_a).id,
                                               "owner_id": rep_a.id, "amount": "1000"})
    b = opportunities.create_opportunity(ctx, {"name": "Beta deal", "customer_id": make_customer("Beta Co", rep_b).id,
                                               "owner_id": rep_b.id, "amount": "2000"})
    proposal = ctx.session.scalar(select(Stage).where(Stage.name == "Proposal"))
    return {"a": a.id, "b": b.id, "proposal": proposal.id, "rep_a": rep_a.id}


def test_move_by_script_answers_json_and_goes_through_the_service(app: Any, ctx: Any, deals: dict[str, Any]) -> None:
    rep = admin_login(app.test_client(), "rep_a", lang="en")
    page = rep.get("/admin/sales/board/").text
    assert 'src="/admin/sales/board/board.js"' in page and 'draggable="true"' in page
    assert 'data-move-url="/admin/sales/board/move"' in page and f'data-stage-id="{deals["proposal"]}"' in page
    form = {"opportunity_id": deals["a"], "stage_id": deals["proposal"]}
    assert rep.post("/admin/sales/board/move", data=form, headers=JSON).status_code == 400  # no CSRF token
    r = rep.post("/admin/sales/board/move", data={**form, "csrf_token": csrf_token(page)}, headers=JSON)
    assert r.status_code == 200 and r.json == {"ok": True, "message": "Alpha deal moved to Proposal."}
    ctx.session.expire_all()
    assert ctx.session.get(Opportunity, deals["a"]).stage_id == deals["proposal"]
    # someone else's deal: refused with the reason, nothing moves, no flash left for the next page
    r = rep.post("/admin/sales/board/move", headers=JSON, data={
        "csrf_token": csrf_token(page), "opportunity_id": deals["b"], "stage_id": deals["proposal"]})
    assert r.status_code == 403 and r.json["ok"] is False and "outside your scope" in r.json["message"]
    ctx.session.expire_all()
    assert ctx.session.get(Opportunity, deals["b"]).stage_id != deals["proposal"]
    assert "outside your scope" not in rep.get("/admin/sales/board/").text
    r = rep.post("/admin/sales/board/move", headers=JSON, data={"csrf_token": csrf_token(page), "opportunity_id": "x"})
    assert r.status_code == 400 and r.json["ok"] is False


def test_the_per_card_form_stays_without_javascript(app: Any, deals: dict[str, Any]) -> None:
    page = admin_login(app.test_client(), "rep_a", lang="en").get("/admin/sales/board/").text
    card = page[page.index(f'data-opportunity="{deals["a"]}"'):]
    assert '<form method="post" action="/admin/sales/board/move"' in card[:600] and 'name="stage_id"' in card[:1200]


def test_the_owner_filter_lists_sales_people_by_name(app: Any, deals: dict[str, Any]) -> None:
    page = admin_login(app.test_client(), "boss", lang="en").get("/admin/sales/board/").text
    select_html = page[page.index('id="owner_id"'):page.index("</select>", page.index('id="owner_id"'))]
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', select_html)
    # sales people (the reps and their manager) by name; not the service agent
    assert [label for _, label in options] == ["Amy Zhang (rep_a)", "Bo Li (rep_b)", "boss"]


def test_the_board_script_is_served_by_the_app(app: Any, deals: dict[str, Any]) -> None:
    r = admin_login(app.test_client(), "rep_a", lang="en").get("/admin/sales/board/board.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript" and "dragstart" in r.text


def test_drag_a_card_in_chromium(app: Any, ctx: Any, deals: dict[str, Any], rt: Any, tmp_path: Any) -> None:
    from selenium.webdriver.common.by import By

    from crmcore.services import users as user_svc
    from crmcore.testing.browser import browser_login, chromium, serve

    user_svc.set_password(ctx, ctx.session.get(User, deals["rep_a"]), "password123")
    ctx.session.commit()
    # HTML5 drag and drop from WebDriver: the browser's own drag events, dispatched on the card and the column
    drag = """
        const card = document.querySelector(`.sales-card[data-opportunity="${arguments[0]}"]`);
        const column = document.querySelector(`.sales-column[data-stage-id="${arguments[1]}"] .card-body`);
        const data = new DataTransfer();
        card.dispatchEvent(new DragEvent("dragstart", {bubbles: true, dataTransfer: data}));
        column.dispatchEvent(new DragEvent("dragover", {bubbles: true, cancelable: true, dataTransfer: data}));
        column.dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: data}));
        card.dispatchEvent(new DragEvent("dragend", {bubbles: true, dataTransfer: data}));
    """
    with serve(app) as url, chromium(tmp_path) as browser:
        browser_login(browser, url, "rep_a")
        browser.get(url + "/admin/sales/board/")
        browser.execute_script(drag, deals["a"], deals["proposal"])
        # the page reloads with the card in its new column and the service's message
        assert "Alpha deal moved to Proposal." in browser.find_element(By.CSS_SELECTOR, ".alert-success").text
        column = browser.find_element(By.CSS_SELECTOR, f'.sales-column[data-stage-id="{deals["proposal"]}"]')
        assert "Alpha deal" in column.text
    ctx.session.expire_all()
    assert ctx.session.get(Opportunity, deals["a"]).stage_id == deals["proposal"]
