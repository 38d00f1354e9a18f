"""The customer list's search is the API's search (phones in any format, contacts' names and numbers,
pinyin), and creating a customer in the admin warns of probable duplicates before saving: the user
opens a match or saves again to create it anyway; a warning never names a customer outside the
user's record scope."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.models import Customer
from crmcore.services import contacts, customers
from crmcore.testing.admin import admin_login, csrf_token


@pytest.fixture
def boss(app: Any, make_user: Any) -> Any:
    make_user("admin", username="boss")
    return admin_login(app.test_client(), "boss", lang="en")


def _names(page: str) -> set[str]:
    return set(re.findall(r'<a href="/admin/customer/details/\?id=\d+">([^<]+)</a>', page))


def test_list_search_is_the_api_search(boss: Any, ctx: Any) -> None:
    tea = customers.create_customer(ctx, {"name": "杭州西湖龙井茶业有限公司", "phone": "0571-8765 4321"})
    contacts.create_contact(ctx, tea.id, {"name": "周婷", "mobile": "13957112345"})
    customers.create_customer(ctx, {"name": "Other Trading", "phone": "13800138000"})
    for q in ("+86 571 8765 4321", "057187654321", "周婷", "139 5711 2345", "+8613957112345", "xihu", "hzxhljcy"):
        found = _names(boss.get("/admin/customer/", query_string={"search": q}).text)
        assert found == {"杭州西湖龙井茶业有限公司"}, q
    assert _names(boss.get("/admin/customer/", query_string={"search": "138-0013-8000"}).text) == {"Other Trading"}


def _count(ctx: Any) -> int:
    ctx.session.expire_all()
    return int(ctx.session.scalar(select(func.count()).select_from(Customer)))


def test_create_warns_of_duplicates_before_saving(boss: Any, ctx: Any) -> None:
    first_id = customers.create_customer(ctx, {"name": "张三商贸有限公司", "phone": "13800138000"}).id
    before = _count(ctx)
    page = boss.get("/admin/customer/new/").text
    data = {"csrf_token": csrf_token(page), "name": "张三商贸(有限公司)", "phone": "+86 138-0013-8000", "stage": "lead",
            "kind": "organization"}
    r = boss.post("/admin/customer/new/", data=data)
    assert r.status_code == 200 and _count(ctx) == before  # nothing saved yet
    warning = r.text[r.text.index('id="crm-duplicates-warning"'):]
    assert f'href="/admin/customer/details/?id={first_id}"' in warning and "张三商贸有限公司" in warning
    assert "same phone number" in warning
    assert "This customer may already exist." in r.text
    assert 'value="张三商贸(有限公司)"' in r.text  # what was typed is kept
    assert 'name="ignore_duplicates" value="1"' in r.text
    r = boss.post("/admin/customer/new/", data={**data, "ignore_duplicates": "1"})
    assert r.status_code == 302 and _count(ctx) == before + 1


def test_no_warning_without_a_match_or_outside_the_scope(app: Any, boss: Any, ctx: Any, make_user: Any) -> None:
    rep_a, _ = make_user("sales", username="rep_a")
    rep_b, _ = make_user("sales", username="rep_b")
    customers.create_customer(ctx, {"name": "Hidden Twin Ltd", "phone": "13800138000", "owner_id": rep_b.id})
    rep = admin_login(app.test_client(), "rep_a", lang="en")
    page = rep.get("/admin/customer/new/").text
    before = _count(ctx)
    r = rep.post("/admin/customer/new/", data={"csrf_token": csrf_token(page), "name": "Hidden Twin Ltd",
                                               "phone": "13800138000", "stage": "lead", "kind": "organization",
                                               "owner": str(rep_a.id)})
    assert r.status_code == 302
    assert _count(ctx) == before + 1  # rep_b's customer is not revealed
    page = boss.get("/admin/customer/new/").text
    r = boss.post("/admin/customer/new/", data={"csrf_token": csrf_token(page), "name": "Brand New Co",
                                                "stage": "lead", "kind": "organization"})
    assert r.status_code == 302


def test_duplicate_warning_in_chromium(app: Any, ctx: Any, make_user: Any, tmp_path: Any) -> None:
    from selenium.webdriver.common.by import By

    from crmcore.testing.browser import browser_login, chromium, serve, wait_for

    make_user("admin", username="boss")
    first_id = customers.create_customer(ctx, {"name": "张三商贸有限公司", "phone": "13800138000"}).id
    with serve(app) as url, chromium(tmp_path) as browser:
        browser_login(browser, url, "boss")
        browser.get(url + "/admin/customer/new/")
        browser.find_element(By.NAME, "name").send_keys("张三商贸(有限公司)")
        browser.find_element(By.NAME, "phone").send_keys("138 0013 8000")
        browser.find_element(By.CSS_SELECTOR, "form.admin-form [type=submit]").click()
        warning = browser.find_element(By.ID, "crm-duplicates-warning")
        link = warning.find_element(By.LINK_TEXT, "张三商贸有限公司")
        assert link.get_attribute("href").endswith(f"/admin/customer/details/?id={first_id}")
        assert "same phone number" in warning.text
        assert browser.find_element(By.NAME, "name").get_attribute("value") == "张三商贸(有限公司)"
        browser.find_element(By.CSS_SELECTOR, "form.admin-form [type=submit]").click()
        wait_for(lambda: "/admin/customer/details/" in browser.current_url, "not saved")  # saved anyway, on its page
        assert browser.find_element(By.ID, "customer-name").text == "张三商贸(有限公司)"
