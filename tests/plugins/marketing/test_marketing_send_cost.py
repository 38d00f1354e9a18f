"""What a send does per recipient and what it does once: the SQL statements of a send are per batch (the same for
10 recipients as for 40), the links are signed with one serializer, the mail headers' classes are made once."""
from __future__ import annotations

from typing import Any

from sqlalchemy import event

from plugins.marketing import channels
from plugins.marketing.services import audiences, campaigns, templates, tracking


def _statements(ctx: Any, rt: Any, name: str) -> int:
    audience = audiences.create_audience(ctx, {"name": name, "condition": {"field": "level", "op": "eq", "value": name}})
    template = templates.create_template(ctx, {"name": name, "subject": "{{ customer.name }}，母亲节快乐",
                                               "html": '<a href="https://shop.example/gifts">礼物</a>',
                                               "text": "亲爱的 {{ contact.name }}"})
    campaign = campaigns.create_campaign(ctx, {"name": name, "audience_id": audience.id, "template_id": template.id})
    campaigns.start(ctx, campaign.id)
    count = [0]

    def seen(*_args: Any) -> None:
        count[0] += 1

    event.listen(rt.db.engine, "before_cursor_execute", seen)
    try:
        campaigns.send_campaign(ctx, campaign.id, batch=200)
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", seen)
    return count[0]


def test_the_statements_of_a_send_do_not_grow_with_its_recipients(ctx: Any, rt: Any, subscriber: Any,
                                                                   inbox: Any) -> None:
    for i in range(10):
        subscriber(f"小{i}", f"s{i}@example.cn", stage="customer", level="small")
    for i in range(40):
        subscriber(f"大{i}", f"b{i}@example.cn", stage="customer", level="large")
    small, large = _statements(ctx, rt, "small"), _statements(ctx, rt, "large")
    assert len(inbox.messages) == 50
    assert large == small, (small, large)


def test_links_are_signed_with_one_serializer_and_headers_made_once(ctx: Any) -> None:
    assert tracking._serializer(ctx) is tracking._serializer(ctx)
    registry = channels._POLICY.header_factory
    assert registry["Subject"] is registry["subject"]
    token = tracking.token(ctx, "open", 7)
    assert tracking.read(ctx, "open", token) == (7, None) and tracking.read(ctx, "click", token) is None
