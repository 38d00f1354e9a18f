"""Acceptance in a real headless Chromium: a manager builds a journey from the forms — the trigger, a send, a
condition split built with the condition builder, a branch target picked by name — sees the step diagram,
starts it, and the engine sends to the customers the split lets through (a real local SMTP server)."""
from __future__ import annotations

from typing import Any

from crmcore.services import users as user_svc
from crmcore.testing.browser import login, wait_for
from plugins.marketing.models import Campaign
from plugins.marketing.services import journey_engine, templates, triggers


def test_a_manager_builds_and_starts_a_journey(make_browser: Any, live_url: str, rt: Any, ctx: Any,
                                               subscriber: Any, inbox: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    mia = user_svc.create_user(ctx, "mia", "password123", "manager", email="mia@shop.example")
    vip, plain = subscriber("VIP Ann", "ann@example.cn", owner=mia), subscriber("Plain Bo", "bo@example.cn", owner=mia)
    templates.create_template(ctx, {"name": "Welcome", "subject": "Hi {{ customer.name }}", "text": "Welcome"})
    templates.create_template(ctx, {"name": "VIP offer", "subject": "For you", "text": "An offer"})

    def shown(css: str, text: str) -> None:
        wait_for(lambda: text in driver.find_element(By.CSS_SELECTOR, css).text, f"{css} did not show {text!r}")

    driver = make_browser(lang="en-US", width=1400, height=1000)
    login(driver, live_url, "mia")
    driver.get(live_url + "/admin/marketing/journeys/new")
    driver.find_element(By.ID, "name").send_keys("Welcome journey")
    Select(driver.find_element(By.ID, "trigger")).select_by_visible_text("Entered through the API")
    driver.find_element(By.CSS_SELECTOR, ".save-trigger").click()
    shown(".alert-success", "saved")
    journey_url = driver.current_url

    def add(kind: str, name: str) -> None:
        driver.get(journey_url)
        Select(driver.find_element(By.ID, "kind")).select_by_value(kind)
        driver.find_element(By.CSS_SELECTOR, ".add-step button").click()
        wait_for(lambda: driver.find_element(By.ID, "name"), "the step form did not open")
        driver.find_element(By.ID, "name").send_keys(name)

    add("send", "Welcome mail")
    Select(driver.find_element(By.ID, "template_id")).select_by_visible_text("Welcome")
    driver.find_element(By.CSS_SELECTOR, ".save-step").click()
    shown(".alert-success", "saved")
    add("send", "VIP offer")
    Select(driver.find_element(By.ID, "template_id")).select_by_visible_text("VIP offer")
    driver.find_element(By.CSS_SELECTOR, ".save-step").click()
    shown(".alert-success", "saved")
    add("condition", "Is VIP?")
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".cb-add"), "the builder did not load")
    driver.find_element(By.CSS_SELECTOR, ".cb-add").click()
    Select(driver.find_element(By.CSS_SELECTOR, ".cb-leaf:last-child .cb-field")).select_by_value("name")
    Select(driver.find_element(By.CSS_SELECTOR, ".cb-leaf:last-child .cb-op")).select_by_value("startswith")
    driver.find_element(By.CSS_SELECTOR, ".cb-leaf:last-child input.cb-value").send_keys("VIP")
    wait_for(lambda: "1 matching record" in driver.find_element(By.CSS_SELECTOR, ".cb-result").text,
             "the live count did not show 1")
    Select(driver.find_element(By.ID, "next_step_id")).select_by_visible_text("VIP offer")
    driver.find_element(By.CSS_SELECTOR, ".save-step").click()
    shown(".alert-success", "saved")
    # the first step goes on to the split, picked by name
    driver.get(journey_url)
    driver.find_element(By.CSS_SELECTOR, ".journey-step-row .edit-step").click()
    Select(driver.find_element(By.ID, "next_step_id")).select_by_visible_text("Is VIP?")
    driver.find_element(By.CSS_SELECTOR, ".save-step").click()
    shown(".alert-success", "saved")
    svg = driver.find_element(By.CSS_SELECTOR, ".journey-diagram")
    assert "Is VIP?" in svg.text and "Yes" in svg.text
    driver.find_element(By.CSS_SELECTOR, ".start-journey").click()
    shown(".alert-success", "running")

    rt.db.session.remove()
    run_ctx = rt.context()
    journey_id = run_ctx.session.query(Campaign).filter(Campaign.kind == "journey").one().id
    triggers.enter(run_ctx, journey_id, [vip.id, plain.id])
    journey_engine.advance(run_ctx, journey_id)
    got = sorted((m["To"], m["Subject"]) for m in inbox.messages)
    assert got == [("ann@example.cn", "For you"), ("ann@example.cn", "Hi VIP Ann"), ("bo@example.cn", "Hi Plain Bo")]
    driver.refresh()
    shown(".journey-states", "Finished 2")
