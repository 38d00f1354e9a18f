"""Journeys end to end against a real SMTP server: the graph checked before the start, sends through the send
path's consent and suppression, waits, splits on behaviour, the goal, idempotency after a crash, versions."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.errors import ValidationError
from plugins.marketing.models import Campaign, Recipient
from plugins.marketing.models_journeys import Enrolment, JourneyStep, StepLog
from plugins.marketing.services import consent, journey_engine, journeys, templates, tracking, triggers


def template(ctx: Any, name: str) -> Any:
    return templates.create_template(ctx, {"name": name, "subject": f"{name} {{{{ customer.name }}}}",
                                           "html": "<p>{{ contact.name }}</p>", "text": "{{ contact.name }}"})


def mothers_day(ctx: Any) -> tuple[Campaign, dict[str, JourneyStep]]:
    """send -> wait 3 days -> opened? (yes: end; no: reminder); goal: ordered."""
    journey = journeys.create_journey(ctx, {"name": "母亲节旅程", "trigger": "api"})
    first, reminder = template(ctx, "礼物推荐"), template(ctx, "提醒")
    s = {}
    s["send"] = journeys.add_step(ctx, journey.id, {"name": "发送推荐", "kind": "send", "template_id": first.id})
    s["wait"] = journeys.add_step(ctx, journey.id, {"name": "等三天", "kind": "wait", "wait_days": 3})
    s["split"] = journeys.add_step(ctx, journey.id, {"name": "打开了吗", "kind": "condition", "behaviour": "opened"})
    s["remind"] = journeys.add_step(ctx, journey.id, {"name": "提醒", "kind": "send", "template_id": reminder.id})
    s["goal"] = journeys.add_step(ctx, journey.id, {"name": "下单", "kind": "goal", "behaviour": "ordered"})
    journeys.update_step(ctx, journey.id, s["send"].id, {"next_step_id": s["wait"].id})
    journeys.update_step(ctx, journey.id, s["wait"].id, {"next_step_id": s["split"].id})
    journeys.update_step(ctx, journey.id, s["split"].id, {"next_step_id": None, "else_step_id": s["remind"].id})
    return journey, s


def test_a_journey_sends_waits_and_reminds_only_those_who_did_not_open(ctx: Any, subscriber: Any,
                                                                       inbox: Any) -> None:
    opener = subscriber("甲", "a@example.cn", stage="customer")
    other = subscriber("乙", "b@example.cn", stage="customer")
    journey, steps = mothers_day(ctx)
    assert journeys.graph_problems(ctx, journey.id) == {}  # the goal is checked at every step: no path needed
    lone = journeys.add_step(ctx, journey.id, {"name": "孤立", "kind": "wait", "wait_days": 1})
    assert "never reached" in journeys.graph_problems(ctx, journey.id)["孤立"][0]
    journeys.remove_step(ctx, journey.id, lone.id)
    journeys.start(ctx, journey.id)
    assert triggers.enter(ctx, journey.id, [opener.id, other.id, 999999])["entered"] == 2
    t0 = dt.datetime.now(dt.timezone.utc)
    journey_engine.advance(ctx, journey.id, now=t0)
    assert sorted(rcpt for _f, (rcpt,) in inbox.envelopes) == ["a@example.cn", "b@example.cn"]
    sent = ctx.session.scalar(select(Recipient).where(Recipient.customer_id == opener.id))
    tracking.record_event(ctx, sent.id, "opened")
    journey_engine.advance(ctx, journey.id, now=t0 + dt.timedelta(days=1))  # still waiting
    assert len(inbox.messages) == 2
    journey_engine.advance(ctx, journey.id, now=t0 + dt.timedelta(days=3, minutes=1))
    assert len(inbox.messages) == 3 and inbox.messages[-1]["To"] == "b@example.cn"
    assert inbox.messages[-1]["Subject"].startswith("提醒")
    states = dict(ctx.session.execute(select(Enrolment.customer_id, Enrolment.state)).all())
    assert states == {opener.id: "done", other.id: "done"}
    journey_engine.advance(ctx, journey.id, now=t0 + dt.timedelta(days=9))  # nothing again
    assert len(inbox.messages) == 3
    assert triggers.enter(ctx, journey.id, [opener.id])["entered"] == 0  # once per (journey, customer, entry)


def test_a_crash_after_the_claim_resends_once_with_the_same_message_id(ctx: Any, subscriber: Any,
                                                                       inbox: Any) -> None:
    a = subscriber("甲", "a@example.cn", stage="customer")
    journey, steps = mothers_day(ctx)
    journeys.remove_step(ctx, journey.id, steps["goal"].id)
    journeys.start(ctx, journey.id)
    triggers.enter(ctx, journey.id, [a.id])
    enrolment = ctx.session.scalar(select(Enrolment))
    # a worker claimed the message (log and recipient committed) and died before sending it
    log = StepLog(enrolment_id=enrolment.id, step_id=steps["send"].id, outcome="sending")
    ctx.session.add(log)
    ctx.session.flush()
    ctx.session.add(Recipient(campaign_id=journey.id, customer_id=a.id, address="a@example.cn", status="sending",
                              attempts=1, touch=log.id))
    ctx.session.commit()
    now = dt.datetime.now(dt.timezone.utc)
    journey_engine.advance(ctx, journey.id, now=now)
    journey_engine.advance(ctx, journey.id, now=now)
    assert len(inbox.messages) == 1
    rid = ctx.session.scalar(select(Recipient.id).where(Recipient.touch == log.id))
    assert inbox.messages[0]["Message-ID"] == journey_engine.campaigns.message_id(ctx, rid)
    assert ctx.session.scalar(select(func.count()).select_from(StepLog).where(
        StepLog.enrolment_id == enrolment.id)) == 2  # the send and the wait, each once


def test_sends_respect_consent_and_the_suppression_list_and_the_journey_goes_on(ctx: Any, subscriber: Any,
                                                                               inbox: Any) -> None:
    nope = subscriber("丙", "c@example.cn", consent_given=False, stage="customer")
    gone = subscriber("丁", "d@example.cn", stage="customer")
    consent.suppress(ctx, "email", "d@example.cn", "bounced")
    journey, steps = mothers_day(ctx)
    journeys.remove_step(ctx, journey.id, steps["goal"].id)
    journeys.start(ctx, journey.id)
    triggers.enter(ctx, journey.id, [nope.id, gone.id])
    journey_engine.advance(ctx, journey.id)
    assert inbox.messages == []
    details = dict(ctx.session.execute(select(Enrolment.customer_id, StepLog.detail).join(
        StepLog, StepLog.enrolment_id == Enrolment.id).where(StepLog.step_id == steps["send"].id)).all())
    assert details == {nope.id: "no consent", gone.id: "suppressed"}
    assert set(ctx.session.scalars(select(Enrolment.step_id))) == {steps["wait"].id}  # waiting, not stuck


def test_the_goal_ends_the_journey_when_reached(ctx: Any, subscriber: Any, inbox: Any) -> None:
    from plugins.sales.services import orders

    a = subscriber("甲", "a@example.cn", stage="customer")
    journey, _steps = mothers_day(ctx)
    journeys.start(ctx, journey.id)
    now = dt.datetime.now(dt.timezone.utc)
    triggers.enter(ctx, journey.id, [a.id], now=now)
    journey_engine.advance(ctx, journey.id, now=now)
    orders.record_order(ctx, {"number": "MD-1", "customer_id": a.id, "order_date": dt.date.today(), "lines": [
        {"description": "花束", "quantity": "1", "unit_price": "100"}]})
    journey_engine.advance(ctx, journey.id, now=now + dt.timedelta(days=4))
    assert ctx.session.scalar(select(Enrolment.state)) == "goal" and len(inbox.messages) == 1  # no reminder


def test_the_graph_is_checked_per_step_before_the_start(ctx: Any) -> None:
    journey = journeys.create_journey(ctx, {"name": "坏旅程"})
    with pytest.raises(ValidationError) as exc:
        journeys.start(ctx, journey.id)
    assert "Add at least one step" in str(exc.value.errors)
    a = journeys.add_step(ctx, journey.id, {"name": "A", "kind": "wait", "wait_days": 1})
    b = journeys.add_step(ctx, journey.id, {"name": "B", "kind": "condition",
                                            "condition": {"field": "stage", "op": "eq", "value": "customer"}})
    journeys.update_step(ctx, journey.id, a.id, {"next_step_id": b.id})
    journeys.update_step(ctx, journey.id, b.id, {"else_step_id": a.id})  # B goes back to A: a loop
    with pytest.raises(ValidationError) as exc:
        journeys.start(ctx, journey.id)
    assert "may not loop" in " ".join(exc.value.errors["steps"]["B"])
    assert ctx.session.get(Campaign, journey.id).status == "draft"
    with pytest.raises(ValidationError) as exc:
        journeys.add_step(ctx, journey.id, {"name": "C", "kind": "send", "template_id": 424242})
    assert "template_id" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        journeys.add_step(ctx, journey.id, {"name": "D", "kind": "condition",
                                            "condition": {"field": "no_such_field", "op": "eq", "value": 1}})
    assert "condition" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        journeys.add_step(ctx, journey.id, {"name": "E", "kind": "random", "branches": [
            {"label": "A", "share": 50}, {"label": "B", "share": 40}]})
    assert "100" in str(exc.value.errors["branches"])
    with pytest.raises(ValidationError) as exc:
        journeys.add_step(ctx, journey.id, {"name": "A", "kind": "wait", "wait_days": 1})
    assert "name" in exc.value.errors


def test_edits_to_a_running_journey_apply_to_new_entries_only(ctx: Any, subscriber: Any, inbox: Any) -> None:
    a, b = subscriber("甲", "a@example.cn"), subscriber("乙", "b@example.cn")
    journey = journeys.create_journey(ctx, {"name": "版本"})
    wait = journeys.add_step(ctx, journey.id, {"name": "等", "kind": "wait", "wait_days": 1})
    journeys.start(ctx, journey.id)
    now = dt.datetime.now(dt.timezone.utc)
    triggers.enter(ctx, journey.id, [a.id], now=now)
    changed = journeys.update_step(ctx, journey.id, wait.id, {"wait_days": 5})
    assert changed.id != wait.id and changed.version == 2 and ctx.session.get(JourneyStep, wait.id).wait_days == 1
    triggers.enter(ctx, journey.id, [b.id], now=now)
    journey_engine.advance(ctx, journey.id, now=now)
    journey_engine.advance(ctx, journey.id, now=now + dt.timedelta(days=2))
    states = dict(ctx.session.execute(select(Enrolment.customer_id, Enrolment.state)).all())
    assert states == {a.id: "done", b.id: "active"}  # a followed version 1 (1 day), b version 2 (5 days)
    from crmcore.models import AuditLog

    history = ctx.session.scalars(select(AuditLog.changes).where(AuditLog.entity == "marketing_campaign",
                                                                 AuditLog.entity_id == str(journey.id))).all()
    assert {"version": [1, 2]} in history  # the new version is in the campaign's history


def test_a_random_split_sends_each_branch_its_share(ctx: Any, make_customer: Any) -> None:
    people = [make_customer(f"客户{i}") for i in range(200)]
    journey = journeys.create_journey(ctx, {"name": "AB"})
    split = journeys.add_step(ctx, journey.id, {"name": "分流", "kind": "random", "branches": [
        {"label": "A", "share": 30}, {"label": "B", "share": 70}]})
    tag_a = journeys.add_step(ctx, journey.id, {"name": "标A", "kind": "update", "tag": "组A"})
    tag_b = journeys.add_step(ctx, journey.id, {"name": "标B", "kind": "update", "field": "level", "value": "B"})
    journeys.update_step(ctx, journey.id, split.id, {"branches": [
        {"label": "A", "share": 30, "next_step_id": tag_a.id}, {"label": "B", "share": 70, "next_step_id": tag_b.id}]})
    journeys.start(ctx, journey.id)
    triggers.enter(ctx, journey.id, [p.id for p in people])
    journey_engine.advance(ctx, journey.id)
    outcomes = dict(ctx.session.execute(select(StepLog.outcome, func.count()).where(StepLog.step_id == split.id)
                                        .group_by(StepLog.outcome)).all())
    assert outcomes["A"] + outcomes["B"] == 200 and 40 <= outcomes["A"] <= 80
    from crmcore.models import Customer

    tagged = [c for c in ctx.session.scalars(select(Customer)) if "组A" in {t.name for t in c.tags}]
    assert len(tagged) == outcomes["A"]
    assert ctx.session.scalar(select(func.count()).select_from(Customer).where(Customer.level == "B")) == outcomes["B"]


def test_a_step_a_service_refuses_is_noted_and_the_journey_goes_on(ctx: Any, make_customer: Any) -> None:
    from crmcore.services import customers

    a, b = make_customer("甲"), make_customer("乙")
    journey = journeys.create_journey(ctx, {"name": "删除后"})
    update = journeys.add_step(ctx, journey.id, {"name": "升级", "kind": "update", "field": "stage",
                                                 "value": "customer"})
    with pytest.raises(ValidationError) as exc:
        journeys.update_step(ctx, journey.id, update.id, {"value": "royalty"})
    assert "value" in exc.value.errors  # a choice that does not exist is refused when saved
    after = journeys.add_step(ctx, journey.id, {"name": "然后", "kind": "wait", "wait_days": 1})
    journeys.update_step(ctx, journey.id, update.id, {"next_step_id": after.id})
    journeys.start(ctx, journey.id)
    triggers.enter(ctx, journey.id, [a.id, b.id])
    customers.delete_customer(ctx, a.id)  # the update of a deleted customer is refused by the customer service
    journey_engine.advance(ctx, journey.id)
    logs = dict(ctx.session.execute(select(Enrolment.customer_id, StepLog.outcome).join(
        StepLog, StepLog.enrolment_id == Enrolment.id).where(StepLog.step_id == update.id)).all())
    assert logs == {a.id: "failed", b.id: "done"}
    assert set(ctx.session.scalars(select(Enrolment.step_id))) == {after.id}


def test_quiet_hours_hold_sends_and_the_frequency_cap_skips(ctx: Any, rt: Any, subscriber: Any, inbox: Any) -> None:
    a = subscriber("甲", "a@example.cn")
    journey = journeys.create_journey(ctx, {"name": "压力"})
    t = template(ctx, "问候")
    first = journeys.add_step(ctx, journey.id, {"name": "一", "kind": "send", "template_id": t.id})
    second = journeys.add_step(ctx, journey.id, {"name": "二", "kind": "send", "template_id": t.id})
    journeys.update_step(ctx, journey.id, first.id, {"next_step_id": second.id})
    journeys.start(ctx, journey.id)
    triggers.enter(ctx, journey.id, [a.id])
    night = dt.datetime(2027, 3, 1, 15, tzinfo=dt.timezone.utc)  # 23:00 in Shanghai
    saved = dict(rt.settings)
    rt.settings.update(MARKETING_QUIET_HOURS="21:00-08:00", MARKETING_TIMEZONE="Asia/Shanghai",
                       MARKETING_FREQUENCY_CAP="1", MARKETING_FREQUENCY_DAYS="7")
    try:
        journey_engine.advance(ctx, journey.id, now=night)
        assert inbox.messages == [] and ctx.session.scalar(select(Enrolment.step_id)) == first.id  # held, not lost
        journey_engine.advance(ctx, journey.id, now=night + dt.timedelta(hours=10))  # 09:00
        assert len(inbox.messages) == 1  # the first; the second is over the cap of 1 a week
        log = ctx.session.scalar(select(StepLog).where(StepLog.step_id == second.id))
        assert (log.outcome, log.detail) == ("skipped", "frequency cap")
    finally:
        rt.settings.clear()
        rt.settings.update(saved)


def test_wait_until_a_time_in_the_customers_time_zone(ctx: Any, make_customer: Any) -> None:
    from crmcore.services import custom_fields

    custom_fields.create_field(ctx, {"entity": "customer", "name": "timezone", "label": "时区", "type": "text"})
    east, west = (make_customer("上海客户", attributes={"timezone": "Asia/Shanghai"}),
                  make_customer("Berlin", attributes={"timezone": "Europe/Berlin"}))
    journey = journeys.create_journey(ctx, {"name": "定时"})
    wait = journeys.add_step(ctx, journey.id, {"name": "等到九点", "kind": "wait", "wait_until": "2027-05-01T09:00:00"})
    journeys.start(ctx, journey.id)
    now = dt.datetime(2027, 4, 30, tzinfo=dt.timezone.utc)
    triggers.enter(ctx, journey.id, [east.id, west.id], now=now)
    journey_engine.advance(ctx, journey.id, now=now)
    due = dict(ctx.session.execute(select(Enrolment.customer_id, StepLog.due_at).join(
        StepLog, StepLog.enrolment_id == Enrolment.id).where(StepLog.step_id == wait.id)).all())
    assert due[east.id] == dt.datetime(2027, 5, 1, 1, tzinfo=dt.timezone.utc)
    assert due[west.id] == dt.datetime(2027, 5, 1, 7, tzinfo=dt.timezone.utc)


def test_a_batch_goes_out_in_one_call_and_a_server_down_loses_nothing(ctx: Any, rt: Any, subscriber: Any,
                                                                        inbox: Any, monkeypatch: Any) -> None:
    from crmcore.testing.mail import free_port
    from plugins.marketing.channels import EmailChannel

    people = [subscriber(f"客户{i}", f"c{i}@example.cn") for i in range(5)]
    journey = journeys.create_journey(ctx, {"name": "批量"})
    journeys.add_step(ctx, journey.id, {"name": "发", "kind": "send", "template_id": template(ctx, "群发").id})
    journeys.start(ctx, journey.id)
    triggers.enter(ctx, journey.id, [p.id for p in people])
    saved = dict(rt.settings)
    rt.settings["MARKETING_SMTP_PORT"] = str(free_port())  # the mail server is down
    try:
        journey_engine.advance(ctx, journey.id)
    finally:
        rt.settings.clear()
        rt.settings.update(saved)
    assert inbox.messages == [] and set(ctx.session.scalars(select(Recipient.status))) == {"sending"}
    calls: list[int] = []
    original = EmailChannel.send

    def counting(self: Any, ctx_: Any, messages: list[Any]) -> Any:
        calls.append(len(messages))
        return original(self, ctx_, messages)

    monkeypatch.setattr(EmailChannel, "send", counting)
    journey_engine.advance(ctx, journey.id)
    assert calls == [5] and sorted(m["To"] for m in inbox.messages) == sorted(f"c{i}@example.cn" for i in range(5))
    assert set(ctx.session.scalars(select(Enrolment.state))) == {"done"}
    journey_engine.advance(ctx, journey.id)
    assert calls == [5] and len(inbox.messages) == 5
