"""The admin in a real headless Chromium: log in, list, open and create customers, offline assets only.

The browser comes from the testing kit (``crmcore.testing.browser``): skipped without Chromium, except
under CI (``CI=true``), where it fails; a failed test leaves a screenshot in its temporary folder.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from crmcore.models import AuditLog, Customer
from crmcore.services import contacts, customers


def requested_urls(driver: Any) -> set[str]:
    urls = set()
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.add(msg["params"]["request"]["url"])
    return {u for u in urls if u.startswith(("http:", "https:"))}


def test_admin_in_a_real_browser(browser: Any, live_url: str, make_user: Any, ctx: Any, rt: Any,
                                 tmp_path: Any) -> None:
    from selenium.webdriver.common.by import By

    make_user("admin", username="boss")
    tea = customers.create_customer(ctx, {"name": "杭州西湖龙井茶业有限公司", "stage": "customer", "tags": ["VIP"],
                                          "phone": "0571-8765 4321"})
    contacts.create_contact(ctx, tea.id, {"name": "周婷", "title": "采购经理", "mobile": "13957112345",
                                          "wechat": "zhouting88"})
    tea_id = tea.id

    browser.get(live_url + "/admin/")
    assert "/admin/auth/login" in browser.current_url
    browser.save_screenshot(str(tmp_path / "login.png"))
    browser.find_element(By.NAME, "username").send_keys("boss")
    browser.find_element(By.NAME, "password").send_keys("wrong-password")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "Wrong username or password." in browser.find_element(By.ID, "login-error").text
    browser.find_element(By.NAME, "password").send_keys("password123")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert browser.find_element(By.CSS_SELECTOR, ".crm-dashboard h1").text.startswith("Hello")
    assert browser.find_element(By.CSS_SELECTOR, '[data-stage="customer"]').text == "1"

    browser.get(live_url + "/admin/customer/")
    table = browser.find_element(By.CSS_SELECTOR, "table.model-list")
    assert "杭州西湖龙井茶业有限公司" in table.text and "VIP" in table.text
    browser.save_screenshot(str(tmp_path / "customers.png"))

    browser.find_element(By.LINK_TEXT, "杭州西湖龙井茶业有限公司").click()
    assert browser.current_url.endswith(f"/admin/customer/details/?id={tea_id}")
    assert browser.find_element(By.ID, "customer-name").text == "杭州西湖龙井茶业有限公司"
    assert "周婷" in browser.find_element(By.ID, "contacts").text
    assert "%" in browser.find_element(By.ID, "completeness").text
    browser.save_screenshot(str(tmp_path / "details.png"))

    browser.get(live_url + "/admin/customer/new/")
    browser.find_element(By.NAME, "name").send_keys("Browser Trading Ltd")
    browser.find_element(By.NAME, "tag_names").send_keys("Export, 电商")
    browser.find_element(By.NAME, "email").send_keys("orders@browser-trading.example")
    browser.find_element(By.CSS_SELECTOR, ".admin-form input[type=submit].btn-primary").click()
    assert browser.find_element(By.ID, "customer-name").text == "Browser Trading Ltd"
    assert "Record was successfully created." in browser.find_element(By.CSS_SELECTOR, ".alert-success").text
    header = browser.find_element(By.CSS_SELECTOR, ".crm-customer").text
    assert "Export" in header and "电商" in header
    browser.save_screenshot(str(tmp_path / "created.png"))

    rt.db.session.remove()
    created = rt.db.session.scalar(select(Customer).where(Customer.name == "Browser Trading Ltd"))
    entry = rt.db.session.scalar(select(AuditLog).where(AuditLog.entity_id == str(created.id),
                                                        AuditLog.action == "created"))
    assert entry.source == "admin" and entry.actor_label == "boss"

    outside = {u for u in requested_urls(browser) if not u.startswith(live_url)}
    assert not outside, f"pages loaded assets from outside the app: {sorted(outside)}"
