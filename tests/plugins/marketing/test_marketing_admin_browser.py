"""Acceptance in a real headless Chromium: a manager builds an audience with the condition builder, writes a
template, creates a campaign, sees its readiness, starts it (a real local SMTP server receives the messages)
and opens the report. Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium`` (the testing kit)."""
from __future__ import annotations

from typing import Any

from crmcore.services import users as user_svc
from crmcore.testing.browser import login, wait_for
from plugins.marketing.models import Campaign
from plugins.marketing.services import campaigns


def test_a_manager_runs_a_campaign_from_the_admin(make_browser: Any, live_url: str, rt: Any, ctx: Any,
                                                  subscriber: Any, inbox: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    user_svc.create_user(ctx, "mia", "password123", "manager", email="mia@shop.example")
    subscriber("VIP Ann", "ann@example.cn")
    subscriber("VIP Bo", "bo@example.cn")
    subscriber("Plain Cai", "cai@example.cn")
    def shown(css: str, text: str) -> None:  # after a click the next page may not be there yet
        wait_for(lambda: text in driver.find_element(By.CSS_SELECTOR, css).text, f"{css} did not show {text!r}")

    driver = make_browser(lang="en-US", width=1400, height=1000)
    login(driver, live_url, "mia")

    # the audience, with the builder: customers whose name starts with "VIP"; the live count says 2
    driver.get(live_url + "/admin/marketing/audiences/new")
    driver.find_element(By.ID, "name").send_keys("VIP customers")
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".cb-add"), "the builder did not load")
    driver.find_element(By.CSS_SELECTOR, ".cb-add").click()
    Select(driver.find_element(By.CSS_SELECTOR, ".cb-leaf:last-child .cb-field")).select_by_value("name")
    Select(driver.find_element(By.CSS_SELECTOR, ".cb-leaf:last-child .cb-op")).select_by_value("startswith")
    driver.find_element(By.CSS_SELECTOR, ".cb-leaf:last-child input.cb-value").send_keys("VIP")
    wait_for(lambda: "2 matching records" in driver.find_element(By.CSS_SELECTOR, ".cb-result").text,
             "the live count did not show 2")
    driver.find_element(By.CSS_SELECTOR, ".save-audience").click()
    shown(".alert-success", "saved")
    assert driver.find_element(By.CSS_SELECTOR, ".audience-preview .preview-count").text == "2"

    # the template
    driver.get(live_url + "/admin/marketing/templates/new")
    driver.find_element(By.ID, "name").send_keys("Spring")
    driver.find_element(By.ID, "subject").send_keys("Hello {{ customer.name }}")
    driver.find_element(By.ID, "text").send_keys("Our spring sale starts today.")
    driver.find_element(By.CSS_SELECTOR, ".save-template").click()
    shown(".alert-success", "saved")

    # the campaign: picked by name; its readiness; a confirmed start
    driver.get(live_url + "/admin/marketing/campaigns/new")
    driver.find_element(By.ID, "name").send_keys("Spring sale")
    Select(driver.find_element(By.ID, "audience_id")).select_by_visible_text("VIP customers")
    Select(driver.find_element(By.ID, "template_id")).select_by_visible_text("Spring")
    holdout = driver.find_element(By.ID, "holdout_percent")
    holdout.clear()
    holdout.send_keys("0")
    driver.find_element(By.CSS_SELECTOR, ".save-campaign").click()
    shown(".alert-success", "saved")
    assert driver.find_element(By.CSS_SELECTOR, ".readiness-reachable td").text == "2"
    assert driver.find_element(By.CSS_SELECTOR, ".campaign-state").text == "Draft"
    driver.find_element(By.CSS_SELECTOR, ".confirm-start").click()
    driver.find_element(By.CSS_SELECTOR, ".start-campaign").click()
    shown(".alert-success", "being sent")

    # the send job (as the worker runs it), then the report
    rt.db.session.remove()
    campaign_id = rt.db.session.query(Campaign).one().id
    assert campaigns.send_campaign(rt.context(), campaign_id)["sent"] == 2
    assert sorted(m["To"] for m in inbox.messages) == ["ann@example.cn", "bo@example.cn"]
    driver.refresh()
    shown(".campaign-state", "Done")
    assert driver.find_element(By.CSS_SELECTOR, ".funnel-sent td").text == "2"
    assert driver.find_elements(By.CSS_SELECTOR, ".funnel-chart svg")
    assert driver.find_element(By.CSS_SELECTOR, ".recipients-csv").get_attribute("href").endswith("/recipients.csv")
