"""A journey's send step writes each recipient's message in their language as a one-off campaign does: the
template's translation for exactly their language, else one of the same language, else the template itself."""
from __future__ import annotations

from typing import Any

from plugins.marketing.services import journey_engine, journeys, languages, templates, triggers


def test_a_journey_send_picks_the_translation_of_the_recipients_language(ctx: Any, subscriber: Any,
                                                                         inbox: Any) -> None:
    zh = subscriber("王芳", "wang@example.cn")
    en = subscriber("Ann", "ann@example.com")
    hk = subscriber("陳大文", "chan@example.hk")
    ja = subscriber("Taro", "taro@example.jp")
    template = templates.create_template(ctx, {"name": "生日", "subject": "生日快乐 {{ customer.name }}",
                                               "text": "送您一份礼物"})
    languages.set_translation(ctx, template.id, "en_US", {"subject": "Happy birthday, {{ customer.name }}",
                                                          "text": "A gift for you"})
    languages.set_translation(ctx, template.id, "zh_HK", {"subject": "生日快樂 {{ customer.name }}",
                                                          "text": "送您一份禮物"})
    for customer, tag in ((en, "en"), (hk, "zh_HK"), (ja, "ja")):
        languages.set_language(ctx, customer.id, {"language": tag})
    journey = journeys.create_journey(ctx, {"name": "生日旅程", "trigger": "api"})
    journeys.add_step(ctx, journey.id, {"name": "祝福", "kind": "send", "template_id": template.id})
    journeys.start(ctx, journey.id)
    assert triggers.enter(ctx, journey.id, [zh.id, en.id, hk.id, ja.id])["entered"] == 4
    journey_engine.advance(ctx, journey.id)
    got = {m["To"]: (m["Subject"], m.get_body(("plain",)).get_content().split("\n-- ")[0].strip())
           for m in inbox.messages}
    assert got == {"ann@example.com": ("Happy birthday, Ann", "A gift for you"),  # en: the en_US translation
                   "chan@example.hk": ("生日快樂 陳大文", "送您一份禮物"),  # exactly zh_HK
                   "wang@example.cn": ("生日快乐 王芳", "送您一份礼物"),  # no language: the template
                   "taro@example.jp": ("生日快乐 Taro", "送您一份礼物")}  # no Japanese: the template
