"""The demo's Mother's Day campaign (the seeds' scenario): customers who ordered in the last year, a gift
suggestion from what they bought, a control group; ready to run once a mail server is set."""
from __future__ import annotations

from sqlalchemy import select

from crmcore import entities
from crmcore.models import Customer
from crmcore.runtime import ServiceContext

from ..models import Campaign, Consent
from . import audiences, campaigns, languages, templates

TEMPLATE_HTML = """<p>{{ contact.name }}，您好：</p>
<p>母亲节快到了。感谢您一直以来对{{ company.name or "我们" }}的信任，我们为您挑了几件适合送给妈妈的礼物：</p>
<ul>{% for p in recommendations %}<li>{{ p }}</li>{% else %}{% for p in best_sellers %}<li>{{ p }}</li>{% else %}<li>精选鲜花礼盒</li>{% endfor %}{% endfor %}</ul>
<p><a href="https://shop.example/mothers-day">去看看</a></p>
<p style="color:#888">不想再收到此类邮件？<a href="{{ unsubscribe_url }}">退订</a> · <a href="{{ preferences_url }}">订阅偏好</a></p>"""
TEMPLATE_TEXT = """{{ contact.name }}，您好：
母亲节快到了，我们为您挑了几件适合送给妈妈的礼物：
{% for p in recommendations %}- {{ p }}
{% else %}{% for p in best_sellers %}- {{ p }}
{% else %}- 精选鲜花礼盒
{% endfor %}{% endfor %}
去看看：https://shop.example/mothers-day
退订：{{ unsubscribe_url }}
订阅偏好：{{ preferences_url }}"""
TEMPLATE_TEXT_EN = """Dear {{ contact.name }},
Mother's Day is coming: a few gifts for your mother, picked from what you like:
{% for p in recommendations %}- {{ p }}
{% else %}{% for p in best_sellers %}- {{ p }}
{% else %}- Our flower boxes
{% endfor %}{% endfor %}
Have a look: https://shop.example/mothers-day
Unsubscribe: {{ unsubscribe_url }}
Your preferences: {{ preferences_url }}"""


def load_demo(ctx: ServiceContext) -> str:
    if ctx.session.scalar(select(Campaign.id).where(Campaign.name == "母亲节礼物推荐")):
        return "Marketing demo data is already there."
    with_email = list(ctx.session.scalars(select(Customer.id).where(Customer.email_normalized.is_not(None),
                                                                    Customer.deleted_at.is_(None))))
    for customer_id in with_email:
        if ctx.session.scalar(select(Consent.id).where(Consent.customer_id == customer_id)) is None:
            ctx.session.add(Consent(customer_id=customer_id, channel="email", purpose="marketing", status="granted",
                                    source="form", text="我愿意通过电子邮件接收新品和优惠信息，可随时退订。"))
    ctx.session.commit()
    recent = "days_since_last_order" in entities.condition_fields(ctx, "customer")
    audience = audiences.create_audience(ctx, {
        "name": "近一年下过单的客户" if recent else "所有成交客户",
        "description": "母亲节活动的受众",
        "condition": {"field": "days_since_last_order", "op": "lte", "value": 365} if recent else
        {"field": "stage", "op": "eq", "value": "customer"}})
    template = templates.create_template(ctx, {"name": "母亲节礼物推荐", "subject": "{{ contact.name }}，母亲节礼物为您备好了",
                                               "html": TEMPLATE_HTML, "text": TEMPLATE_TEXT})
    languages.set_translation(ctx, template.id, "en", {"subject": "{{ contact.name }}, your Mother's Day gifts",
                                                       "text": TEMPLATE_TEXT_EN})
    campaign = campaigns.create_campaign(ctx, {"name": "母亲节礼物推荐", "audience_id": audience.id,
                                               "template_id": template.id, "holdout_percent": 10})
    ready = campaigns.readiness(ctx, campaign)
    from .journey_demo import load_journey_demo

    journey = load_journey_demo(ctx)
    return (f"{journey} Marketing demo data: {len(with_email)} e-mail consents, the Mother's Day campaign (draft, "
            f"{ready['reachable']} reachable of {ready['audience']}; set CRM_MARKETING_SMTP_HOST and "
            f"CRM_MARKETING_FROM, then: crm marketing run {campaign.id}).")
