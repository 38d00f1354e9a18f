"""The public pages in a real Chromium, as their users meet them: a visitor on a phone fills in a lead form a
marketer set up, and a customer's service request goes from the portal to resolved by an agent.

Browsers from the testing kit (``crmcore.testing.browser``): they fail under ``CI=true`` when Chromium is
missing, and a failed test leaves screenshots and pages in its temporary folder."""
from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from crmcore.models import OutboxMessage
from crmcore.testing.browser import login, wait_for
from plugins.sales.models import Lead
from plugins.sales.services import lead_forms
from plugins.service.models import Ticket
from plugins.service.services import portal

PHONE = {"lang": "zh-CN", "width": 390, "height": 844, "phone": True}


@pytest.fixture
def app(make_app: Any) -> Any:
    # a mail server is configured so the portal writes the confirmation mail (nothing is delivered here)
    return make_app(PLUGINS=["plugins.sales", "plugins.service"], SERVICE_SMTP_HOST="127.0.0.1",
                    COMPANY_NAME="星河家居")


def test_a_visitor_on_a_phone_leaves_a_lead_that_the_manager_sees(make_browser: Any, live_url: str, ctx: Any,
                                                                  make_user: Any, rt: Any) -> None:
    form = lead_forms.create_form(ctx, {
        "name": "官网咨询", "title": "预约产品顾问", "campaign": "官网",
        "asked": [{"field": "company"}, {"field": "phone", "required": True}, {"field": "message"}],
        "consent_text": "我同意贵公司使用我填写的联系方式答复本次咨询。", "thank_you_title": "提交成功"})
    key = form.key
    make_user("manager", username="mia")

    visitor = make_browser(**PHONE)
    visitor.get(f"{live_url}/sales/forms/{key}")
    assert "星河家居" in visitor.find_element(By.CSS_SELECTOR, "header.brand").text
    assert visitor.execute_script("return document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    visitor.find_element(By.NAME, "name").send_keys("王芳")
    visitor.find_element(By.NAME, "phone").send_keys("13800001111")
    visitor.find_element(By.NAME, "message").send_keys("想了解沙发的价格")
    visitor.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # the consent box not ticked
    assert "请勾选同意后继续。" in visitor.find_element(By.TAG_NAME, "main").text
    assert visitor.find_element(By.NAME, "phone").get_attribute("value") == "13800001111"  # nothing lost
    visitor.find_element(By.NAME, "consent").click()
    visitor.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: visitor.current_url.endswith(f"/sales/forms/{key}/thanks"), "no thank-you page")
    assert visitor.find_element(By.TAG_NAME, "h1").text == "提交成功"

    manager = make_browser(lang="zh-CN")
    login(manager, live_url, "mia")
    manager.get(live_url + "/admin/sales/lead/")
    table = manager.find_element(By.CSS_SELECTOR, "table.model-list").text
    assert "王芳" in table and "网站表单" in table  # the source in words
    rt.db.session.remove()
    lead = rt.db.session.scalar(select(Lead).where(Lead.name == "王芳"))
    assert lead.campaign == "官网" and lead.data["consent"]["text"].startswith("我同意")


def test_a_request_goes_from_the_portal_to_resolved(make_browser: Any, live_url: str, make_user: Any,
                                                    rt: Any) -> None:
    make_user("service", username="agent")
    customer = make_browser(**PHONE)
    customer.get(live_url + "/service/portal/new")
    for name, value in (("name", "王芳"), ("email", "wang@example.cn"), ("phone", "13800138000"),
                        ("subject", "打印机坏了"), ("description", "无法开机")):
        customer.find_element(By.NAME, name).send_keys(value)
    customer.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    number = wait_for(lambda: customer.find_element(By.TAG_NAME, "main").text.count("SR-") and
                      customer.find_element(By.TAG_NAME, "main").text, "no request number")
    assert "SR-000001" in number

    # the customer confirms the address with the link the mail carries
    rt.db.session.remove()
    session = rt.db.session
    ticket = session.scalar(select(Ticket))
    assert ticket.requester_phone == "13800138000"
    issued = [m.payload["data"] for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
              if m.topic == "service.ticket.link_issued"]
    confirm = portal.confirm_token_for_issue(rt.context(session=session), ticket, issued[-1]["confirm"])
    customer.get(f"{live_url}/service/portal/confirm/{confirm}")
    customer.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(lambda: "/service/portal/t/" in customer.current_url, "no status page after confirming")
    status_url = customer.current_url

    agent = make_browser(lang="zh-CN")
    login(agent, live_url, "agent")
    agent.get(live_url + "/admin/service/queue/")
    agent.find_element(By.LINK_TEXT, "SR-000001").click()
    agent.find_element(By.ID, "body").send_keys("请按住电源键十秒后重启。")
    agent.find_element(By.CSS_SELECTOR, "form[action$='/reply'] button[type=submit]").click()
    wait_for(lambda: "请按住电源键十秒后重启。" in agent.find_element(By.TAG_NAME, "body").text, "the reply is not shown")
    Select(agent.find_element(By.ID, "state")).select_by_visible_text("已解决")
    agent.find_element(By.CSS_SELECTOR, "form[action$='/move'] button[type=submit]").click()
    wait_for(lambda: "已解决" in agent.find_element(By.TAG_NAME, "body").text, "the ticket did not move")

    customer.get(status_url)
    page = customer.find_element(By.TAG_NAME, "main").text
    assert "请按住电源键十秒后重启。" in page and "已解决" in customer.find_element(By.CSS_SELECTOR, ".state").text
