"""The admin in a real headless Chromium: log in, list, open and create customers, offline assets only.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium`` from PyPI. Without them the
test is skipped, except under CI (``CI=true``), where it fails.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from crmcore.models import AuditLog, Customer
from crmcore.services import contacts, customers

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--window-size=1366,900", "--lang=en-US")


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run: {reason}")
    pytest.skip("install chromium and chromium-driver (Debian)")


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    binary = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver_path = next((p for p in map(shutil.which, DRIVERS) if p), None)
    if not binary or not driver_path:
        _missing("chromium or chromedriver is not on PATH")
    profile = tempfile.mkdtemp(prefix="crm-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in FLAGS + (f"--user-data-dir={profile}",):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def live_url(app: Any) -> Iterator[str]:
    """The app served by werkzeug on 127.0.0.1 and a free port, in a thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


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
