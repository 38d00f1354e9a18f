"""A journey's test send: each send step's message, rendered for one customer, goes to the sender's own address
(with the step's name in the subject), nothing is recorded on the journey; clear refusals before anything goes."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.errors import ValidationError
from plugins.marketing.models import Recipient
from plugins.marketing.models_journeys import Enrolment
from plugins.marketing.services import campaigns, journeys, templates


def _journey(ctx: Any) -> Any:
    journey = journeys.create_journey(ctx, {"name": "试发旅程", "trigger": "api"})
    first = templates.create_template(ctx, {"name": "欢迎", "subject": "欢迎 {{ customer.name }}", "text": "你好"})
    second = templates.create_template(ctx, {"name": "提醒", "subject": "别忘了 {{ customer.name }}", "text": "提醒"})
    a = journeys.add_step(ctx, journey.id, {"name": "第一封", "kind": "send", "template_id": first.id})
    w = journeys.add_step(ctx, journey.id, {"name": "等一天", "kind": "wait", "wait_days": 1})
    b = journeys.add_step(ctx, journey.id, {"name": "第二封", "kind": "send", "template_id": second.id})
    journeys.update_step(ctx, journey.id, a.id, {"next_step_id": w.id})
    journeys.update_step(ctx, journey.id, w.id, {"next_step_id": b.id})
    return journey


def test_each_send_step_goes_to_the_sender_and_nothing_is_recorded(rt: Any, ctx: Any, make_user: Any,
                                                                   subscriber: Any, inbox: Any) -> None:
    subscriber("王芳", "wang@example.cn", stage="customer")
    journey = _journey(ctx)
    user, _headers = make_user("admin", username="marketer")
    user.email = "me@shop.example"
    ctx.session.merge(user)
    ctx.session.commit()
    me = rt.context(actor=ctx.session.get(type(user), user.id), source="test")
    assert campaigns.send_test(me, journey.id) == "me@shop.example"
    assert [m["To"] for m in inbox.messages] == ["me@shop.example", "me@shop.example"]
    assert [m["Subject"] for m in inbox.messages] == ["[TEST] 第一封: 欢迎 王芳", "[TEST] 第二封: 别忘了 王芳"]
    assert ctx.session.scalar(select(func.count()).select_from(Recipient)) == 0
    assert ctx.session.scalar(select(func.count()).select_from(Enrolment)) == 0


def test_refusals_say_why_before_anything_is_sent(rt: Any, ctx: Any, make_user: Any, inbox: Any) -> None:
    user, _headers = make_user("admin", username="nomail")
    me = rt.context(actor=user, source="test")
    empty = journeys.create_journey(ctx, {"name": "空旅程", "trigger": "api"})
    with pytest.raises(ValidationError, match="no e-mail address"):
        campaigns.send_test(me, empty.id)
    user.email = "me@shop.example"
    ctx.session.merge(user)
    ctx.session.commit()
    me = rt.context(actor=ctx.session.get(type(user), user.id), source="test")
    with pytest.raises(ValidationError, match="no step that sends"):
        campaigns.send_test(me, empty.id)
    journey = _journey(ctx)
    with pytest.raises(ValidationError, match="matches nobody"):  # no customer at all to render for
        campaigns.send_test(me, journey.id)
    assert inbox.messages == []
