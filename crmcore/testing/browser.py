"""Helpers for Chromium tests of the admin: a headless Chromium (Selenium) and the app served on a free port.

Without ``chromium``/``chromedriver`` or ``selenium`` the test is skipped, except under CI
(``CI=true``), where it fails. Screenshots go to the test's temporary folder on failure.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, NoReturn

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--window-size=1366,900", "--lang=en-US")


def _missing(reason: str) -> NoReturn:
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run: {reason}")
    pytest.skip(f"{reason}: install chromium and chromium-driver (Debian) and selenium")


@contextmanager
def chromium(screenshots: Path | None = None) -> Iterator[Any]:
    """A headless Chromium driven by Selenium; on an exception, a screenshot into ``screenshots``."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    binary = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        _missing("chromium or chromedriver is not on PATH")
    profile = tempfile.mkdtemp(prefix="crm-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in FLAGS + (f"--user-data-dir={profile}",):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.implicitly_wait(5)
    try:
        yield driver
    except BaseException:
        if screenshots is not None:
            driver.save_screenshot(str(screenshots / "failure.png"))
        raise
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app served by werkzeug on 127.0.0.1 and a free port, in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def browser_login(driver: Any, base_url: str, username: str, password: str = "password123") -> None:
    """Log in through the admin's login form; returns once a logged-in page (its user menu) is shown."""
    from selenium.webdriver.common.by import By

    driver.get(base_url + "/admin/auth/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    driver.find_element(By.ID, "crm-user-menu")
