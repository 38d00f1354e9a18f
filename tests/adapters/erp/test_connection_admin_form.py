"""The ERP connection admin form without JSON to type: a labelled input per adapter setting, stream checkboxes and
the field ownership grid; what it stores equals what the JSON form stored, errors land beside their input."""
from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.erp.models import ErpConnection
from crmcore.testing.admin import admin_login, post_form

NEW = "/admin/erp/connection/new/"
# what the JSON form was given for a Tryton connection, and what it stored
JSON_SETTINGS = '{"url": "http://erp.example:8000", "database": "crm", "login": "admin", "retry_attempts": 3}'
JSON_OWNERSHIP = '{"customer": {"email": "erp"}}'
TRYTON = {"name": "tryton", "adapter": "tryton", "set__tryton__url": "http://erp.example:8000",
          "set__tryton__database": "crm", "set__tryton__login": "admin", "set__retry_attempts": "3",
          "secret": "s3cret", "streams__tryton": ["customers", "invoices"], "own__customer__email": "erp",
          "overlap_seconds": "300", "timeout_seconds": "10", "page_size": "200", "push_enabled": "y", "enabled": "y"}


@pytest.fixture
def boss(client: Any, make_user: Any) -> dict[str, str]:
    _, headers = make_user("admin", username="boss")
    admin_login(client, "boss", lang="zh-CN")
    return headers


def stored(rt: Any, name: str = "tryton") -> ErpConnection | None:
    rt.db.session.remove()
    return rt.db.session.scalar(select(ErpConnection).where(ErpConnection.name == name))


def block(page: str, field_id: str) -> str:
    """The form group of the input ``field_id`` (its label, input, help and errors)."""
    start = page.index(f'id="{field_id}"')
    end = page.find('<div class="form-group">', start)
    return html.unescape(page[page.rfind('<div class="form-group">', 0, start):end])


def tag(page: str, field_id: str) -> str:
    """The ``<input>`` tag with this id."""
    match = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page)
    assert match, field_id
    return match.group(0)


def test_a_tryton_connection_is_created_and_edited_through_fields_in_chinese(client: Any, boss: Any, rt: Any) -> None:
    page = client.get(NEW).text
    assert "<textarea" not in page and "JSON" not in page
    assert "服务器地址" in block(page, "set__tryton__url") and "*" in block(page, "set__tryton__url")
    r = post_form(client, NEW, TRYTON)
    assert r.status_code == 302, html.unescape(r.text)[:2000]
    conn = stored(rt)
    assert conn.settings == json.loads(JSON_SETTINGS)  # the same as the JSON form stored
    assert conn.ownership == json.loads(JSON_OWNERSHIP)
    assert (conn.streams, conn.secret, conn.adapter) == (["customers", "invoices"], "s3cret", "tryton")

    url = f"/admin/erp/connection/edit/?id={conn.id}"
    edit = client.get(url).text
    assert "<textarea" not in edit and "s3cret" not in edit
    assert 'value="http://erp.example:8000"' in block(edit, "set__tryton__url")
    assert 'value="3"' in block(edit, "set__retry_attempts")
    assert "checked" in tag(edit, "streams__tryton-0") and 'value="customers"' in tag(edit, "streams__tryton-0")
    assert "checked" not in tag(edit, "streams__tryton-1")  # products: not chosen
    assert "checked" in tag(edit, "own__customer__email-1")  # the ERP wins the e-mail
    changed = {**TRYTON, "set__tryton__login": "crm-bot", "set__retry_attempts": "", "secret": "",
               "streams__tryton": [], "own__customer__email": ""}
    r = post_form(client, url, changed)
    assert r.status_code == 302, html.unescape(r.text)[:2000]
    conn = stored(rt)
    assert conn.settings == {"url": "http://erp.example:8000", "database": "crm", "login": "crm-bot"}
    assert (conn.streams, conn.ownership, conn.secret) == ([], {}, "s3cret")  # an empty secret keeps it


def test_settings_the_form_does_not_show_are_kept_and_another_adapters_dropped(client: Any, boss: Any, rt: Any) -> None:
    r = client.post("/api/v1/sync/connections", headers=boss, json={
        "name": "tryton", "adapter": "csv", "settings": {"directory": "/srv/drop", "company": 7},
        "ownership": {"order": {"state": "crm"}}})
    assert r.status_code == 201, r.json
    conn = stored(rt)
    r = post_form(client, f"/admin/erp/connection/edit/?id={conn.id}", {**TRYTON, "own__customer__email": ""})
    assert r.status_code == 302, html.unescape(r.text)[:2000]
    conn = stored(rt)
    assert conn.settings == {"company": 7, **json.loads(JSON_SETTINGS)}  # the folder was the CSV adapter's
    assert conn.ownership == {"order": {"state": "crm"}}  # a rule set through the API is kept


def test_a_bad_setting_lands_on_its_field_in_chinese(client: Any, boss: Any, rt: Any) -> None:
    r = post_form(client, NEW, {**TRYTON, "set__tryton__url": "ftp://erp.example", "set__tryton__database": "",
                                "set__retry_attempts": "three"})
    assert r.status_code == 200
    assert "不是有效的 http(s) 地址" in block(r.text, "set__tryton__url")
    assert "Tryton 需要此设置" in block(r.text, "set__tryton__database")
    assert "请填写数字" in block(r.text, "set__retry_attempts")
    assert "不是有效的" not in block(r.text, "set__odoo__url")  # not on another adapter's address
    assert "settings." not in r.text and "s3cret" not in r.text
    assert 'value="ftp://erp.example"' in block(r.text, "set__tryton__url")  # what was typed is kept
    assert stored(rt) is None


def test_the_ownership_grid_round_trip(client: Any, boss: Any, rt: Any) -> None:
    page = client.get(NEW).text
    grid = html.unescape(page[page.index('id="erp-ownership"'):])
    assert "默认：以 ERP 为准" in grid and "默认：以 CRM 为准" in grid and "信用额度" in grid and "联系人" in grid
    assert "credit_limit" not in re.sub(r'(id|name|for|aria-labelledby)="[^"]*"', "", grid)  # labels, not codes
    r = post_form(client, NEW, {**TRYTON, "own__customer__email": "", "own__customer__name": "crm",
                                "own__contact__phone": "erp", "own__customer__credit_limit": "erp"})
    assert r.status_code == 302, html.unescape(r.text)[:2000]
    conn = stored(rt)
    assert conn.ownership == {"customer": {"name": "crm", "credit_limit": "erp"}, "contact": {"phone": "erp"}}
    edit = client.get(f"/admin/erp/connection/edit/?id={conn.id}").text
    for field, index in (("customer__name", 2), ("customer__credit_limit", 1), ("contact__phone", 1),
                         ("customer__email", 0)):
        assert "checked" in tag(edit, f"own__{field}-{index}"), field
    r = post_form(client, f"/admin/erp/connection/edit/?id={conn.id}", {
        **TRYTON, "secret": "", "own__customer__email": "", "own__contact__phone": "crm"})
    assert r.status_code == 302
    assert stored(rt).ownership == {"contact": {"phone": "crm"}}


def test_streams_are_checkboxes_of_the_adapters_streams(client: Any, boss: Any, rt: Any) -> None:
    page = client.get(NEW).text
    odoo = html.unescape(page[page.index('data-erp-adapter="odoo"'):page.index('data-erp-adapter="tryton"')])
    assert 'value="prices"' not in odoo and 'value="payments"' not in odoo  # Odoo offers neither
    assert "信用额度" in odoo and 'type="checkbox" value="credit_limits"' in odoo
    r = post_form(client, NEW, {**TRYTON, "streams__tryton": ["payments", "credit_limits"],
                                "streams__odoo": ["orders"]})  # another adapter's ticks are not used
    assert r.status_code == 302, html.unescape(r.text)[:2000]
    assert stored(rt).streams == ["payments", "credit_limits"]
    r = post_form(client, NEW, {**TRYTON, "name": "other", "streams__tryton": ["widgets"]})
    assert r.status_code == 200 and "widgets" in block(r.text, "streams__tryton-0")  # beside the checkboxes
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(ErpConnection)) == 1


def test_the_api_checks_declared_setting_kinds(client: Any, boss: Any) -> None:
    r = client.post("/api/v1/sync/connections", headers={**boss, "Accept-Language": "en"}, json={
        "name": "t", "adapter": "tryton", "settings": {**json.loads(JSON_SETTINGS), "retry_base": "soon"}})
    assert r.status_code == 422 and r.json["errors"] == {"settings.retry_base": ["Give a number."]}
    r = client.post("/api/v1/sync/connections", headers={**boss, "Accept-Language": "en"}, json={
        "name": "t", "adapter": "tryton", "settings": {**json.loads(JSON_SETTINGS), "retry_base": "0.25"}})
    assert r.status_code == 201, r.json


def test_the_connection_page_in_chromium_in_chinese(make_browser: Any, live_url: str, make_user: Any, rt: Any,
                                                    tmp_path: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from crmcore.testing.browser import login, wait_for

    make_user("admin", username="boss")
    driver = make_browser(lang="zh-CN", height=2400)  # the whole form in the screenshot a failure saves
    login(driver, live_url, "boss")
    driver.get(live_url + NEW)
    assert not driver.find_elements(By.TAG_NAME, "textarea")
    Select(driver.find_element(By.ID, "adapter")).select_by_visible_text("Tryton")

    def shown(adapter: str) -> bool:
        return bool(driver.find_element(By.CSS_SELECTOR, f'fieldset[data-erp-adapter="{adapter}"]').is_displayed())
    wait_for(lambda: shown("tryton") and not shown("csv") and not shown("odoo"), "only Tryton's settings are shown")
    label = driver.find_element(By.CSS_SELECTOR, 'label[for="set__tryton__url"]').text
    assert "服务器地址" in label and "*" in label
    legend = driver.find_element(By.CSS_SELECTOR, 'fieldset[data-erp-adapter="tryton"] legend').text
    assert legend == "Tryton 的设置"
    driver.find_element(By.ID, "name").send_keys("tryton")
    driver.find_element(By.ID, "set__tryton__url").send_keys("http://erp.example:8000")
    driver.find_element(By.ID, "set__tryton__database").send_keys("crm")
    driver.find_element(By.ID, "set__tryton__login").send_keys("admin")
    driver.find_element(By.ID, "set__retry_attempts").send_keys("3")
    for box in ("streams__tryton-0", "streams__tryton-4", "own__customer__email-1"):
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", driver.find_element(By.ID, box))
        driver.find_element(By.ID, box).click()
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(tmp_path / "erp-connection-zh.png"))  # to look at (kept in the test's folder)
    driver.find_element(By.CSS_SELECTOR, "form.admin-form input[type=submit]").click()
    wait_for(lambda: "/new/" not in driver.current_url, "the connection was not saved")
    conn = stored(rt)
    assert conn.settings == json.loads(JSON_SETTINGS) and conn.ownership == json.loads(JSON_OWNERSHIP)
    assert conn.streams == ["customers", "invoices"]


def test_status_and_issues_name_streams_and_adapters_in_words(ctx: Any, client: Any, boss: Any, tmp_path: Any) -> None:
    from adapters.erp.connections import save_connection
    from adapters.erp.runner import run_sync

    from .test_interfaces import INVOICES, drop

    drop(tmp_path / "drop", "invoices.csv", INVOICES)
    save_connection(ctx, {"name": "files", "adapter": "csv", "settings": {"directory": str(tmp_path / "drop")},
                          "streams": ["invoices"]})
    run_sync(ctx, connection="files")  # no customers: both invoices wait as sync issues
    status = html.unescape(client.get("/admin/erp/status/").text)
    assert "<td>发票</td>" in status and "<td>invoices</td>" not in status and "(CSV 文件)" in status
    issues = html.unescape(client.get("/admin/erp/issue/").text)
    assert "发票" in issues and not re.search(r">\s*invoices\s*<", issues)
    assert re.search(r'badge-warning">未解决<', issues) and not re.search(r">\s*open\s*<", issues)
    # the filters offer the statuses, kinds and streams by name (they were text boxes for the stored codes)
    groups = json.loads(re.search(r'id="filter-groups-data"[^>]*>(.*?)</div>', issues).group(1))
    offered = {label for items in groups.values() for item in items for _code, label in item.get("options") or []}
    assert {"未解决", "已忽略", "推送到 ERP", "发票"} <= offered, offered
    filtered = html.unescape(client.get("/admin/erp/issue/?flt0_0=open").text)
    assert "发票" in filtered


def test_the_details_page_shows_settings_ownership_and_streams_in_words(ctx: Any, client: Any, boss: Any) -> None:
    from adapters.erp.connections import save_connection

    conn = save_connection(ctx, {"name": "tryton", "adapter": "tryton", "settings": json.loads(JSON_SETTINGS),
                                 "streams": ["customers", "credit_limits"], "ownership": json.loads(JSON_OWNERSHIP),
                                 "secret": "s3cret"})
    page = html.unescape(client.get(f"/admin/erp/connection/details/?id={conn.id}").text)
    assert "服务器地址: http://erp.example:8000" in page and "每个请求的尝试次数: 3" in page
    assert "客户 · 邮箱: 以 ERP 为准" in page and "客户, 信用额度" in page
    assert '{"' not in page and "credit_limits" not in page and "s3cret" not in page
