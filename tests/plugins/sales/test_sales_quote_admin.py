"""Quotes in the admin: created and edited with lines (products priced from the price list), the
server computes the totals (the form's script only shows them as you type), errors come back on the
lines with what was typed; the quote's page is a document (lines, totals, status, approval history)
with a printable page; the script is served by the app."""
from __future__ import annotations

import re
from typing import Any

import pytest

from crmcore.testing.admin import admin_login, csrf_token
from plugins.sales.models import Quote
from plugins.sales.services import catalog


@pytest.fixture
def shop(ctx: Any, make_user: Any, make_customer: Any) -> dict[str, Any]:
    rep, _ = make_user("sales", username="rep_a")
    other, _ = make_user("sales", username="rep_b")
    printer = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100"})
    toner = catalog.create_product(ctx, {"code": "P2", "name": "Toner", "list_price": "40"})
    dealers = catalog.save_price_list(ctx, {"name": "Dealers", "items": [{"product_id": printer.id, "price": "90"}]})
    return {"rep": rep, "other": other, "printer": printer.id, "toner": toner.id, "dealers": dealers.id,
            "acme": make_customer("Acme", rep).id, "theirs": make_customer("Theirs", other).id}


def _new(client: Any, shop: dict[str, Any], **lines: Any) -> Any:
    page = client.get("/admin/sales/quote/new/").text
    data = {"csrf_token": csrf_token(page), "customer_id": shop["acme"], "price_list_id": shop["dealers"],
            "discount_percent": "5", "valid_until": "2027-01-31", "notes": "Delivery in March",
            "lines-0-product_id": shop["printer"], "lines-0-quantity": "2", "lines-0-discount_percent": "10",
            "lines-1-description": "Installation", "lines-1-quantity": "1", "lines-1-unit_price": "50",
            "lines-2-product_id": "", "lines-2-description": "", **lines}
    return client.post("/admin/sales/quote/new/", data=data)


def test_create_a_quote_with_lines_and_read_it_as_a_document(app: Any, ctx: Any, shop: dict[str, Any]) -> None:
    rep = admin_login(app.test_client(), "rep_a", lang="en")
    form = rep.get("/admin/sales/quote/new/").text
    assert 'src="/admin/sales/quote/quote-form.js"' in form and not re.search(r'<script[^>]+src="(https?:)?//', form)
    assert "Printer (P1)" in form and "Dealers (CNY)" in form and "Acme" in form and "Theirs" not in form
    r = _new(rep, shop)
    assert r.status_code == 302
    quote = ctx.session.query(Quote).one()
    # the server's totals: 2 x 90 (the price list's) at 10% off = 162, + 50 = 212, 5% off overall = 201.40
    assert (quote.subtotal, quote.total, quote.list_total) == (212, quote.subtotal - quote.discount_total, 230)
    assert str(quote.total) == "201.40"
    doc = rep.get(r.headers["Location"]).text
    lines = doc[doc.index('id="quote-lines"'):doc.index('id="quote-totals"')]
    assert "Printer" in lines and "Installation" in lines and "162.00" in lines and "90.00" in lines
    assert "201.40" in doc[doc.index('id="quote-total"'):][:80]
    assert "Draft" in doc and "Acme" in doc and "Delivery in March" in doc
    assert 'id="quote-edit"' in doc and 'id="quote-submit"' in doc
    printable = rep.get(f"/admin/sales/quote/print/?id={quote.id}").text
    assert "201.40" in printable and "Installation" in printable and "navbar" not in printable


def test_errors_come_back_on_the_lines_with_what_was_typed(app: Any, ctx: Any, shop: dict[str, Any]) -> None:
    rep = admin_login(app.test_client(), "rep_a", lang="en")
    r = _new(rep, shop, **{"lines-1-quantity": "lots"})
    assert r.status_code == 200 and ctx.session.query(Quote).count() == 0
    assert 'value="lots"' in r.text and 'value="Installation"' in r.text
    row = r.text[r.text.index('name="lines-1-quantity"'):]
    assert "invalid-feedback" in row[:400]


def test_edit_replaces_the_lines_and_the_server_recomputes(app: Any, ctx: Any, shop: dict[str, Any]) -> None:
    rep = admin_login(app.test_client(), "rep_a", lang="en")
    _new(rep, shop)
    quote_id = ctx.session.query(Quote).one().id
    page = rep.get(f"/admin/sales/quote/edit/?id={quote_id}").text
    assert 'name="lines-0-quantity" value="2.000"' in page or 'name="lines-0-quantity" value="2"' in page
    r = rep.post(f"/admin/sales/quote/edit/?id={quote_id}", data={
        "csrf_token": csrf_token(page), "version": re.search(r'name="version" value="(\d+)"', page).group(1),
        "price_list_id": "", "discount_percent": "0",
        "lines-0-product_id": shop["toner"], "lines-0-quantity": "3", "lines-0-discount_percent": "0",
        "lines-0-unit_price": ""})
    assert r.status_code == 302
    ctx.session.expire_all()
    quote = ctx.session.get(Quote, quote_id)
    assert [ln.description for ln in quote.lines] == ["Toner"] and str(quote.total) == "120.00"
    # a stale version is refused, nothing changes
    r = rep.post(f"/admin/sales/quote/edit/?id={quote_id}", data={
        "csrf_token": csrf_token(page), "version": "1", "lines-0-description": "X", "lines-0-unit_price": "1"})
    assert r.status_code == 200
    ctx.session.expire_all()
    assert str(ctx.session.get(Quote, quote_id).total) == "120.00"


def test_submit_shows_the_status_and_history_and_others_stay_out(app: Any, ctx: Any, shop: dict[str, Any],
                                                                 rt: Any) -> None:
    rep = admin_login(app.test_client(), "rep_a", lang="en")
    _new(rep, shop)
    quote_id = ctx.session.query(Quote).one().id
    doc = rep.get(f"/admin/sales/quote/details/?id={quote_id}").text
    r = rep.post(f"/admin/sales/quote/submit/?id={quote_id}", data={"csrf_token": csrf_token(doc)})
    assert r.status_code == 302
    doc = rep.get(f"/admin/sales/quote/details/?id={quote_id}").text
    assert "Draft" not in doc[:doc.index('id="quote-lines"')] and 'id="quote-submit"' not in doc
    other = admin_login(app.test_client(), "rep_b", lang="en")
    for url in (f"/admin/sales/quote/details/?id={quote_id}", f"/admin/sales/quote/edit/?id={quote_id}",
                f"/admin/sales/quote/print/?id={quote_id}"):
        assert other.get(url).status_code in (403, 404), url


def test_the_script_is_served_by_the_app(app: Any, shop: dict[str, Any]) -> None:
    rep = admin_login(app.test_client(), "rep_a", lang="en")
    r = rep.get("/admin/sales/quote/quote-form.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript" and "recompute" in r.text
    assert app.test_client().get("/admin/sales/quote/quote-form.js").status_code in (302, 401, 403)


def test_totals_as_you_type_in_chromium(app: Any, ctx: Any, shop: dict[str, Any], tmp_path: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from crmcore.testing.browser import browser_login, chromium, serve

    with serve(app) as url, chromium(tmp_path) as browser:
        browser_login(browser, url, "rep_a")
        browser.get(url + "/admin/sales/quote/new/")
        Select(browser.find_element(By.NAME, "customer_id")).select_by_visible_text("Acme")
        Select(browser.find_element(By.NAME, "price_list_id")).select_by_visible_text("Dealers (CNY)")
        Select(browser.find_element(By.NAME, "lines-0-product_id")).select_by_visible_text("Printer (P1)")
        # the price list's price and the product's name fill the line
        assert browser.find_element(By.NAME, "lines-0-unit_price").get_attribute("value") == "90.00"
        assert browser.find_element(By.NAME, "lines-0-description").get_attribute("value") == "Printer"
        browser.find_element(By.NAME, "lines-0-quantity").send_keys("2")
        browser.find_element(By.NAME, "lines-0-discount_percent").send_keys("10")
        browser.find_element(By.ID, "crm-add-line").click()
        assert browser.find_elements(By.NAME, "lines-3-description")  # a fourth row was added
        browser.find_element(By.NAME, "lines-3-description").send_keys("Installation")
        browser.find_element(By.NAME, "lines-3-unit_price").send_keys("50")
        total = browser.find_element(By.CSS_SELECTOR, "[data-total=total]")
        assert "212.00" in total.text  # 2 x 90 at 10% off + 50, computed in the page
        browser.find_element(By.NAME, "discount_percent").clear()
        browser.find_element(By.NAME, "discount_percent").send_keys("5")
        assert "201.40" in total.text
        browser.find_element(By.CSS_SELECTOR, "#crm-quote-form button[type=submit]").click()
        assert "201.40" in browser.find_element(By.ID, "quote-total").text  # the server agrees


def test_a_tampered_form_or_id_is_refused_cleanly(app: Any, ctx: Any, shop: dict[str, Any]) -> None:
    rep = admin_login(app.test_client(), "rep_a", lang="en")
    r = _new(rep, shop, **{"lines-0-product_id": "abc"})
    assert r.status_code == 200 and "The form is not complete." in r.text and ctx.session.query(Quote).count() == 0
    r = _new(rep, shop, **{"lines-0-product_id": "99999999999999999999"})
    assert r.status_code == 200 and ctx.session.query(Quote).count() == 0
    for url in ("/admin/sales/quote/details/?id=abc", "/admin/sales/quote/edit/?id=", "/admin/sales/quote/print/"):
        assert rep.get(url).status_code == 404, url
