"""Every marketing e-mail carries the way out: a footer with the preference and unsubscribe links in the
recipient's language is added to each part (HTML, text) whose template places neither link; a template that
places one keeps its own; one-off sends and journeys alike, besides the RFC 8058 headers."""
from __future__ import annotations

import re
from typing import Any

from plugins.marketing.services import audiences, campaigns, journey_engine, journeys, languages, templates, triggers

ZH = "您收到这封邮件，是因为您同意接收我们的消息。"
EN = "You receive this e-mail because you agreed to hear from us."


def _send(ctx: Any, template: Any, name: str = "母亲节") -> Any:
    audience = audiences.create_audience(ctx, {"name": name, "condition": {"field": "stage", "op": "eq",
                                                                             "value": "customer"}})
    campaign = campaigns.create_campaign(ctx, {"name": name, "audience_id": audience.id, "template_id": template.id})
    campaigns.start(ctx, campaign.id)
    return campaigns.send_campaign(ctx, campaign.id)


def _parts(mail: Any) -> tuple[str, str]:
    return mail.get_body(("html",)).get_content(), mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_a_template_without_the_links_gets_the_footer_in_the_recipients_language(
        ctx: Any, client: Any, inbox: Any, subscriber: Any) -> None:
    wang = subscriber("王芳", "wang@example.cn", stage="customer")
    ann = subscriber("Ann", "ann@example.com", stage="customer")
    languages.set_language(ctx, wang.id, {"language": "zh_CN"})
    languages.set_language(ctx, ann.id, {"language": "en_GB"})
    template = templates.create_template(ctx, {"name": "t", "subject": "母亲节", "text": "送妈妈一份礼物",
                                               "html": "<html><body><p>送妈妈一份礼物 & 花</p></body></html>"})
    assert _send(ctx, template) == {"sent": 2}
    mails = {m["To"]: m for m in inbox.messages}
    html, text = _parts(mails["wang@example.cn"])
    assert text.startswith("送妈妈一份礼物\n\n-- \n" + ZH)
    assert re.search(r"选择接收哪些消息: https://crm\.shop\.example/m/p/\S+", text)
    assert re.search(r"退订: https://crm\.shop\.example/m/u/\S+", text)
    footer = html[html.index("<hr>"):]
    assert html.index("<hr>") < html.index("</body>") and ZH in footer
    assert 'href="https://crm.shop.example/m/p/' in footer and 'href="https://crm.shop.example/m/u/' in footer
    assert "/m/c/" not in footer  # the links go straight to the pages, not through the click redirect
    assert mails["wang@example.cn"]["List-Unsubscribe"].startswith("<https://crm.shop.example/m/u/")
    html, text = _parts(mails["ann@example.com"])
    assert EN in text and "Choose what you receive: https://crm.shop.example/m/p/" in text
    assert EN in html and ">Unsubscribe</a>" in html and ZH not in html
    preferences = re.search(r"https://crm\.shop\.example(/m/p/\S+)", text).group(1)
    assert client.get(preferences).status_code == 200  # the footer's link is the customer's page


def test_a_template_that_places_a_link_keeps_its_own_part_by_part(ctx: Any, inbox: Any, subscriber: Any) -> None:
    subscriber("王芳", "wang@example.cn", stage="customer")
    template = templates.create_template(ctx, {"name": "t", "subject": "母亲节", "text": "退订：{{ unsubscribe_url }}",
                                               "html": '<p><a href="{{ preferences_url }}">我的订阅</a></p>'})
    _send(ctx, template)
    html, text = _parts(inbox.messages[0])
    assert ZH not in text and ZH not in html and EN not in html
    only_text = templates.create_template(ctx, {"name": "t2", "subject": "双十一", "text": "偏好：{{ preferences_url }}",
                                                "html": "<p>双十一</p>"})
    _send(ctx, only_text, "双十一")
    html, text = _parts(inbox.messages[-1])
    assert ZH not in text and html.startswith("<p>双十一</p><hr>")  # no </body>: at the end, before the pixel


def test_journey_sends_carry_it_too(ctx: Any, inbox: Any, subscriber: Any) -> None:
    her = subscriber("王芳", "wang@example.cn", stage="customer")
    languages.set_language(ctx, her.id, {"language": "en"})
    template = templates.create_template(ctx, {"name": "t", "subject": "提醒", "text": "{{ contact.name }}"})
    journey = journeys.create_journey(ctx, {"name": "旅程", "trigger": "api"})
    journeys.add_step(ctx, journey.id, {"name": "发送", "kind": "send", "template_id": template.id})
    journeys.start(ctx, journey.id)
    triggers.enter(ctx, journey.id, [her.id])
    journey_engine.advance(ctx, journey.id)
    assert EN in inbox.messages[-1].get_body(("plain",)).get_content()
