"""Acceptance in a real headless Chromium: a manager runs RFM from the analysis dashboard and sees the
segment list (each segment by its label, with its customers). Needs Debian's ``chromium`` and
``chromium-driver`` and ``selenium`` (the testing kit)."""
from __future__ import annotations

import re
from typing import Any

from crmcore.testing.browser import login, wait_for
from plugins.analysis.services.segments import segment_labels


def test_a_manager_runs_rfm_and_sees_the_segment_list(make_browser: Any, live_url: str, ctx: Any,
                                                       make_user: Any, make_customer: Any, buy: Any) -> None:
    from selenium.webdriver.common.by import By

    manager = make_user("manager", username="mia")[0]
    for i in range(8):
        c = make_customer(f"客户{i}", manager)
        for k in range(i % 3 + 1):
            buy(c, 10 * i + 30 * k, f"{50 + 20 * i}.00")
    driver = make_browser(lang="zh-CN", width=1400, height=1000)
    login(driver, live_url, "mia")
    driver.get(live_url + "/admin/analysis/dashboard/")
    assert not driver.find_elements(By.CSS_SELECTOR, "#segments table")  # no run yet
    driver.find_element(By.CSS_SELECTOR, "form.analysis-run button[value=rfm]").click()
    wait_for(lambda: "8" in driver.find_element(By.CSS_SELECTOR, ".alert-success").text,
             "the run did not say it scored 8 customers")
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "#segments table tbody tr")]
    keys = set(segment_labels(ctx))
    # each segment by its Chinese label, never its key
    assert rows and all(row[0] not in keys and re.search("[\u4e00-\u9fff]", row[0]) for row in rows)
    assert len({row[0] for row in rows}) == len(rows)
    assert sum(int(row[1]) for row in rows) == 8
    assert driver.find_element(By.CSS_SELECTOR, "#segments svg")  # and the chart above the list
