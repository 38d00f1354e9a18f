"""The demo's Mother's Day journey (the seeds' scenario): ten days before the second Sunday of May, female
customers who have ordered get a gift suggestion; three days later those who did not open it get a reminder;
an order ends the journey. Also the Spring Festival dates of the configured calendar."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from crmcore import entities
from crmcore.models import Customer, CustomField
from crmcore.runtime import ServiceContext
from crmcore.services import custom_fields, customers

from ..models import Campaign, MessageTemplate
from ..models_journeys import CalendarDate
from . import journeys, templates

NAME = "母亲节礼物旅程"
SPRING_FESTIVAL = (dt.date(2026, 2, 17), dt.date(2027, 2, 6), dt.date(2028, 1, 26), dt.date(2029, 2, 13))
WOMEN, MEN = ("李娜", "Jane Smith"), ("王伟",)
REMINDER_TEXT = """{{ contact.name }}，您好：
母亲节就在这个周日。还没来得及挑礼物？不妨看看：
{% for p in recommendations %}- {{ p }}
{% else %}- 精选鲜花礼盒（仍有现货）
{% endfor %}
去看看：https://shop.example/mothers-day
退订：{{ unsubscribe_url }}"""


def load_journey_demo(ctx: ServiceContext) -> str:
    if ctx.session.scalar(select(Campaign.id).where(Campaign.name == NAME)):
        return "The Mother's Day journey is already there."
    for day in SPRING_FESTIVAL:
        if ctx.session.scalar(select(CalendarDate.id).where(CalendarDate.name == "春节",
                                                            CalendarDate.date == day)) is None:
            ctx.session.add(CalendarDate(name="春节", date=day))
    ctx.session.commit()
    if ctx.session.scalar(select(CustomField).where(CustomField.name == "gender")) is None:
        custom_fields.create_field(ctx, {"entity": "customer", "name": "gender", "label": "性别 Gender",
                                         "type": "choice", "choices": ["女", "男"]})
    for names, gender in ((WOMEN, "女"), (MEN, "男")):
        for customer in ctx.session.scalars(select(Customer).where(Customer.name.in_(names))):
            customers.update_customer(ctx, customer.id, {"attributes": {**(customer.attributes or {}), "gender": gender}})
    women = {"field": "attributes.gender", "op": "eq", "value": "女"}
    ordered = "days_since_last_order" in entities.condition_fields(ctx, "customer")
    condition = {"all": [women, {"not": {"field": "days_since_last_order", "op": "is_null"}}]} if ordered else women
    gift = ctx.session.scalar(select(MessageTemplate).where(MessageTemplate.name == "母亲节礼物推荐"))
    reminder = templates.create_template(ctx, {"name": "母亲节提醒", "subject": "{{ contact.name }}，母亲节就在本周日",
                                               "text": REMINDER_TEXT})
    journey = journeys.create_journey(ctx, {"name": NAME, "trigger": "calendar", "calendar_rule": "nth_weekday",
                                            "month": 5, "nth": 2, "weekday": 6, "offset_days": -10,
                                            "condition": condition})
    steps = [journeys.add_step(ctx, journey.id, data) for data in (
        {"name": "发送礼物推荐", "kind": "send", "template_id": gift.id if gift else reminder.id},
        {"name": "等待三天", "kind": "wait", "wait_days": 3},
        {"name": "打开了吗", "kind": "condition", "behaviour": "opened"},
        {"name": "提醒未打开的客户", "kind": "send", "template_id": reminder.id},
        {"name": "目标：下单", "kind": "goal", "behaviour": "ordered"})]
    journeys.update_step(ctx, journey.id, steps[0].id, {"next_step_id": steps[1].id})
    journeys.update_step(ctx, journey.id, steps[1].id, {"next_step_id": steps[2].id})
    journeys.update_step(ctx, journey.id, steps[2].id, {"next_step_id": None, "else_step_id": steps[3].id})
    return (f"Marketing demo: the Mother's Day journey (draft; with CRM_MARKETING_SMTP_HOST and CRM_MARKETING_FROM "
            f"set: crm marketing run {journey.id}, then customers enter 10 days before the second Sunday of May).")
