"""Browser tests with the testing kit: a real headless Chromium (Selenium) on the app served in a thread.

Fixtures (registered by the kit's pytest plugin): ``live_url`` (the test's app on 127.0.0.1 and a free
port), ``make_browser(lang="zh-CN")`` (a new Chromium in that language; closed after the test) and
``browser`` (one in English). When a test fails, every browser it opened saves a screenshot and its page
source into the test's temporary folder (``tmp_path``) and the report names them.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium`` (in the project's test
dependencies). Without them the test is skipped, except under CI (``CI=true``), where it fails.
Helpers: :func:`login` through the admin's form and :func:`wait_for` a condition.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Generator, Iterator, NoReturn

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--no-first-run", "--window-size=1366,900")
_FAILED = pytest.StashKey[bool]()


def missing(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI (``CI=true``), where browsers must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run: {reason}")
    pytest.skip(f"browser test skipped: {reason} (install chromium and chromium-driver)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
def live_url(app: Any) -> Iterator[str]:
    """The app served by werkzeug on 127.0.0.1 and a free port, in a thread, for this test."""
    with serve(app) as url:
        yield url


@pytest.fixture
def make_browser(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_browser(lang="zh-CN", width=1366, height=900, phone=False)`` -> a new headless Chromium (Selenium
    driver) whose pages ask for ``lang``; ``phone=True`` emulates a phone's screen of ``width`` x ``height``
    CSS pixels (touch, device pixel ratio 3). On a test failure each saves ``browser-<n>.png`` and ``.html``."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed")
    binary = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver_path = next((p for p in map(shutil.which, DRIVERS) if p), None)
    if not binary or not driver_path:
        missing("chromium or chromedriver is not on PATH")
    opened: list[tuple[Any, str]] = []

    def factory(lang: str = "zh-CN", width: int = 1366, height: int = 900, phone: bool = False) -> Any:
        profile = tempfile.mkdtemp(prefix="crm-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = binary
        for flag in FLAGS + (f"--user-data-dir={profile}", f"--lang={lang}", f"--window-size={width},{height}"):
            opts.add_argument(flag)
        opts.add_experimental_option("prefs", {"intl.accept_languages": lang})
        if phone:  # a headless window cannot be narrower than 500 pixels: emulate the phone's screen instead
            opts.add_experimental_option("mobileEmulation", {
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 3.0, "touch": True}})
        opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        driver = webdriver.Chrome(service=Service(driver_path), options=opts)
        driver.implicitly_wait(5)
        opened.append((driver, profile))
        return driver

    yield factory
    failed = request.node.stash.get(_FAILED, False)
    for n, (driver, profile) in enumerate(opened, 1):
        try:
            if failed:
                driver.save_screenshot(str(tmp_path / f"browser-{n}.png"))
                (tmp_path / f"browser-{n}.html").write_text(driver.page_source, encoding="utf-8")
                print(f"browser {n} at {driver.current_url}: screenshot and page in {tmp_path}")
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(make_browser: Callable[..., Any]) -> Any:
    """A headless Chromium asking for English pages."""
    return make_browser(lang="en-US")


def login(driver: Any, live_url: str, username: str, password: str = "password123") -> None:
    """Log in through the admin's login form; fails the test when the home page does not follow."""
    from selenium.webdriver.common.by import By

    driver.get(live_url + "/admin/auth/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: "/admin/auth/login" not in driver.current_url, f"{username} could not log in")


def wait_for(condition: Callable[[], Any], message: str = "the page did not change", timeout: float = 10) -> Any:
    """Poll ``condition`` until it is true (returned) or ``timeout`` seconds pass (the test fails)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - an element not there yet, a stale reference: poll again
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.1)


# ---- without fixtures: context managers for a test that builds its own app -------------------------------

@contextmanager
def chromium(screenshots: Path | None = None, lang: str = "en-US") -> Iterator[Any]:
    """A headless Chromium driven by Selenium (closed afterwards); on an exception, a screenshot and the page
    into ``screenshots``. Prefer the ``make_browser`` fixture, which does the same for every browser of a test."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed")
    binary = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver_path = next((p for p in map(shutil.which, DRIVERS) if p), None)
    if not binary or not driver_path:
        missing("chromium or chromedriver is not on PATH")
    profile = tempfile.mkdtemp(prefix="crm-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in FLAGS + (f"--user-data-dir={profile}", f"--lang={lang}"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"intl.accept_languages": lang})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.implicitly_wait(5)
    try:
        yield driver
    except BaseException:
        if screenshots is not None:
            driver.save_screenshot(str(screenshots / "failure.png"))
            (screenshots / "failure.html").write_text(driver.page_source, encoding="utf-8")
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
    """:func:`login`, then waits for the logged-in page's user menu."""
    from selenium.webdriver.common.by import By

    login(driver, base_url, username, password)
    driver.find_element(By.ID, "crm-user-menu")
