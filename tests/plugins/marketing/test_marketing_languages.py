"""Templates per language: a template's translations, checked like it; each recipient gets their language's
(exact tag, else the same language), else the template's own text; the customer picks it on the preference
page or it is set through the API. And the recommendations' fallback when no basket rule suggests anything."""
from __future__ import annotations

import re
from typing import Any

from plugins.marketing.services import audiences, campaigns, languages, templates


def _send(ctx: Any, template: Any, name: str = "母亲节") -> Any:
    audience = audiences.create_audience(ctx, {"name": name, "condition": {"field": "stage", "op": "eq",
                                                                             "value": "customer"}})
    campaign = campaigns.create_campaign(ctx, {"name": name, "audience_id": audience.id, "template_id": template.id})
    campaigns.start(ctx, campaign.id)
    return campaigns.send_campaign(ctx, campaign.id)


def test_each_recipient_gets_the_template_in_their_language(ctx: Any, client: Any, inbox: Any, subscriber: Any,
                                                            make_user: Any) -> None:
    zh = subscriber("王芳", "wang@example.cn", stage="customer")
    en = subscriber("Ann", "ann@example.com", stage="customer")
    other = subscriber("Taro", "taro@example.jp", stage="customer")
    hk = subscriber("陳大文", "chan@example.hk", stage="customer")
    template = templates.create_template(ctx, {"name": "t", "subject": "母亲节快乐 {{ customer.name }}",
                                               "text": "送妈妈一份礼物"})
    _m, admin = make_user("admin")
    url = f"/api/v1/marketing/templates/{template.id}/translations"
    r = client.put(f"{url}/en", headers=admin, json={"subject": "Happy Mother's Day {{ customer.nam }}"})
    assert r.status_code == 422 and set(r.json["errors"]) == {"subject", "text"}  # checked like the template
    assert client.put(f"{url}/not a tag", headers=admin, json={"subject": "x", "text": "y"}).status_code == 422
    r = client.put(f"{url}/en-us", headers=admin, json={"subject": "Happy Mother's Day, {{ customer.name }}",
                                                         "text": "A gift for mum"})
    assert r.status_code == 200 and r.json["language"] == "en_US"
    assert [t["language"] for t in client.get(url, headers=admin).json] == ["en_US"]
    for customer, tag in ((en, "en"), (other, "ja"), (hk, "zh_HK")):
        assert client.put(f"/api/v1/marketing/customers/{customer.id}/language", headers=admin,
                          json={"language": tag}).status_code == 200
    assert client.put(f"/api/v1/marketing/customers/{zh.id}/language", headers=admin,
                      json={"language": "?"}).status_code == 422
    assert _send(ctx, template) == {"sent": 4}
    subjects = {m["To"]: m["Subject"] for m in inbox.messages}
    assert subjects["ann@example.com"] == "Happy Mother's Day, Ann"  # en: the en_US translation (same language)
    assert subjects["wang@example.cn"] == "母亲节快乐 王芳"  # no language: the template
    assert subjects["taro@example.jp"] == "母亲节快乐 Taro"  # no Japanese translation: the template
    assert subjects["chan@example.hk"] == "母亲节快乐 陳大文"
    assert client.delete(f"{url}/en_US", headers=admin).status_code == 204
    assert client.delete(f"{url}/en_US", headers=admin).status_code == 404


def test_the_customer_picks_their_language_on_the_preference_page(ctx: Any, client: Any, inbox: Any,
                                                                  subscriber: Any) -> None:
    subscriber("Ann", "ann@example.com", stage="customer")
    template = templates.create_template(ctx, {"name": "t", "subject": "母亲节", "text": "偏好：{{ preferences_url }}"})
    languages.set_translation(ctx, template.id, "en", {"subject": "Mother's Day", "text": "Prefs: {{ preferences_url }}"})
    _send(ctx, template)
    link = re.search(r"https://crm\.shop\.example(/m/p/\S+)", inbox.messages[0].get_body(("plain",)).get_content())
    page = client.get(link.group(1)).text
    assert '<option value="en">English</option>' in page
    client.post(link.group(1), data={"consent": ["email:marketing"], "language": "en"})
    _send(ctx, template, "父亲节")
    assert inbox.messages[-1]["Subject"] == "Mother's Day"
    assert '<option value="en" selected>English</option>' in client.get(link.group(1)).text
    client.post(link.group(1), data={"consent": ["email:marketing"], "language": ""})  # as the template is written
    _send(ctx, template, "儿童节")
    assert inbox.messages[-1]["Subject"] == "母亲节"


def test_best_sellers_are_the_fallback_of_the_recommendations(ctx: Any, subscriber: Any, inbox: Any) -> None:
    import datetime as dt

    from plugins.sales.services import catalog, orders

    vase = catalog.create_product(ctx, {"code": "VASE", "name": "青瓷花瓶", "list_price": "200"})
    flowers = catalog.create_product(ctx, {"code": "FLOWER", "name": "康乃馨花束", "list_price": "99"})
    catalog.create_product(ctx, {"code": "CARD", "name": "贺卡", "list_price": "9"})  # never sold: never suggested
    old = catalog.create_product(ctx, {"code": "OLD", "name": "旧款", "list_price": "9"})
    people = [subscriber(f"客户{i}", f"g{i}@example.cn", stage="customer") for i in range(4)]
    today = dt.date.today()
    for i, p in enumerate(people[:3]):  # the vase by three customers, the flowers by one
        lines = [{"product_id": vase.id, "quantity": "1", "unit_price": "200"}]
        if i == 0:
            lines.append({"product_id": flowers.id, "quantity": "1", "unit_price": "99"})
        orders.record_order(ctx, {"number": f"G-{i}", "customer_id": p.id, "order_date": today, "lines": lines})
    orders.record_order(ctx, {"number": "OLD-1", "customer_id": people[3].id, "order_date": today - dt.timedelta(days=200),
                              "lines": [{"product_id": old.id, "quantity": "5", "unit_price": "9"}]})
    template = templates.create_template(ctx, {"name": "gift", "subject": "礼物", "text":
                                               "{% for p in recommendations %}[{{ p }}]{% else %}"
                                               "{% for p in best_sellers %}[{{ p }}]{% else %}[鲜花礼盒]{% endfor %}"
                                               "{% endfor %}"})
    _send(ctx, template)
    bodies = {m["To"]: m.get_body(("plain",)).get_content().split("\n-- ")[0].strip() for m in inbox.messages}  # no footer
    assert bodies["g3@example.cn"] == "[青瓷花瓶][康乃馨花束]"  # best first; the old one is outside the 90 days
    assert bodies["g1@example.cn"] == "[康乃馨花束]"  # not what they bought
    assert bodies["g0@example.cn"] == "[鲜花礼盒]"  # bought every best seller: the template's own fallback


def test_every_channel_has_its_word() -> None:
    """A channel added to marketing (wecom came with the channel adapters) has its word everywhere a page
    shows channels: the preference page failed with a KeyError when one was missing."""
    from crmcore.admin import labels as core_labels
    from plugins.marketing import labels
    from plugins.marketing.admin.common import CHANNEL_LABELS
    from plugins.marketing.models import CHANNELS

    assert set(CHANNELS) <= set(labels.CHANNELS) and set(CHANNELS) <= set(CHANNEL_LABELS)
    assert set(CHANNELS) <= set(core_labels.VALUES["marketing_campaign"]["channel"])
