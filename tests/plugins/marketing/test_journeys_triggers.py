"""Journey triggers: calendar rules, date fields (yearly, before/after), events through ``crm_events``, no order
for N days, audiences once or recurring; each entry once however often the trigger is looked at."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from plugins.marketing.models_journeys import CalendarDate, Enrolment
from plugins.marketing.services import audiences, journeys, triggers


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.timezone.utc)


def running(ctx: Any, name: str, **trigger: Any) -> Any:
    journey = journeys.create_journey(ctx, {"name": name, **trigger})
    journeys.add_step(ctx, journey.id, {"name": "等", "kind": "wait", "wait_days": 1})
    journeys.start(ctx, journey.id)
    return journey


def entered(ctx: Any, journey: Any) -> dict[int, str]:
    return dict(ctx.session.execute(select(Enrolment.customer_id, Enrolment.entry)
                                    .where(Enrolment.campaign_id == journey.id)).all())


@pytest.mark.parametrize(("year", "expected"), [(2026, dt.date(2026, 5, 10)), (2027, dt.date(2027, 5, 9)),
                                                (2028, dt.date(2028, 5, 14))])
def test_the_second_sunday_of_may(year: int, expected: dt.date) -> None:
    assert triggers.nth_weekday(year, 5, 2, 6) == expected


def test_ten_days_before_the_second_sunday_of_may_for_an_audience(ctx: Any, make_customer: Any) -> None:
    women = audiences.create_audience(ctx, {"name": "女性", "condition": {"field": "level", "op": "eq", "value": "F"}})
    her, him = make_customer("王芳", level="F"), make_customer("李雷", level="M")
    journey = running(ctx, "母亲节", trigger="calendar", calendar_rule="nth_weekday", month=5, nth=2, weekday=6,
                      offset_days=-10, audience_id=women.id)
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 4, 28))) == 0  # 11 days before
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 4, 29))) == 1  # 9 May 2027 - 10 days
    assert entered(ctx, journey) == {her.id: "2027-05-09"}
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 4, 29))) == 0  # looked at again: nobody twice
    assert him.id not in entered(ctx, journey)


def test_a_missed_day_is_caught_up_and_a_configured_calendar_is_used(ctx: Any, make_customer: Any) -> None:
    a = make_customer("甲")
    ctx.session.add_all([CalendarDate(name="spring_festival", date=dt.date(2027, 2, 6)),
                         CalendarDate(name="spring_festival", date=dt.date(2028, 1, 26))])
    ctx.session.commit()
    journey = running(ctx, "春节", trigger="calendar", calendar_rule="calendar", calendar_name="spring_festival",
                      offset_days=-7)
    triggers.scan(ctx, journey.id, now=at(dt.date(2027, 1, 28)))  # the day before the fire date (30 January)
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 2, 2))) == 1  # the job did not run on the 30th
    assert entered(ctx, journey) == {a.id: "2027-02-06"}


def test_double_eleven_as_a_fixed_date(ctx: Any, make_customer: Any) -> None:
    a = make_customer("甲")
    journey = running(ctx, "双十一", trigger="calendar", calendar_rule="fixed", month=11, day=11)
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 11, 11))) == 1
    assert entered(ctx, journey) == {a.id: "2027-11-11"}


def test_a_yearly_date_field_n_days_before(ctx: Any, make_customer: Any) -> None:
    from crmcore.services import custom_fields

    custom_fields.create_field(ctx, {"entity": "customer", "name": "birthday", "label": "生日", "type": "date"})
    a = make_customer("甲", attributes={"birthday": "1980-06-15"})
    make_customer("乙", attributes={"birthday": "1990-06-16"})
    leap = make_customer("丙", attributes={"birthday": "1992-02-29"})
    assert "attributes.birthday" in triggers.date_fields(ctx)
    journey = running(ctx, "生日", trigger="date_field", date_field="attributes.birthday", offset_days=-3)
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 2, 25))) == 1  # 28 Feb 2027 - 3 days: for the 29th
    assert entered(ctx, journey) == {leap.id: "attributes.birthday:2027"}
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 6, 12))) == 1
    assert entered(ctx, journey)[a.id] == "attributes.birthday:2027" and len(entered(ctx, journey)) == 2


def test_an_order_event_enters_its_customer_once(ctx: Any, make_customer: Any) -> None:
    from plugins.sales.services import orders

    a = make_customer("甲")
    journey = running(ctx, "下单后", trigger="event", event="sales.order.created")
    orders.record_order(ctx, {"number": "EV-1", "customer_id": a.id, "order_date": dt.date.today(), "lines": [
        {"description": "花束", "quantity": "1", "unit_price": "100"}]})
    rows = list(ctx.session.scalars(select(Enrolment).where(Enrolment.campaign_id == journey.id)))
    assert [r.customer_id for r in rows] == [a.id] and rows[0].entry.startswith("ev:")


def test_no_order_for_n_days(ctx: Any, make_customer: Any) -> None:
    from plugins.sales.services import orders

    idle, busy = make_customer("甲"), make_customer("乙")
    for number, who, day in (("N-1", idle, dt.date(2027, 1, 1)), ("N-2", busy, dt.date(2027, 1, 1)),
                             ("N-3", busy, dt.date(2027, 2, 1))):
        orders.record_order(ctx, {"number": number, "customer_id": who.id, "order_date": day, "lines": [
            {"description": "花束", "quantity": "1", "unit_price": "100"}]})
    journey = running(ctx, "沉睡", trigger="no_order", no_order_days=60)
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 3, 2))) == 1  # 60 days after 1 January
    assert entered(ctx, journey) == {idle.id: "idle:2027-01-01"}


def test_an_audience_once_or_recurring(ctx: Any, make_customer: Any) -> None:
    vip = audiences.create_audience(ctx, {"name": "VIP", "condition": {"field": "level", "op": "eq", "value": "VIP"}})
    a = make_customer("甲", level="VIP")
    once = running(ctx, "一次", trigger="audience", audience_id=vip.id)
    again = running(ctx, "持续", trigger="audience", audience_id=vip.id, recurring=True)
    triggers.scan(ctx, now=at(dt.date(2027, 1, 1)))
    b = make_customer("乙", level="VIP")
    triggers.scan(ctx, now=at(dt.date(2027, 1, 2)))
    assert set(entered(ctx, once)) == {a.id} and set(entered(ctx, again)) == {a.id, b.id}


def test_a_trigger_that_names_nothing_is_refused_with_the_reason(ctx: Any) -> None:
    from crmcore.errors import ValidationError

    with pytest.raises(ValidationError) as exc:
        journeys.create_journey(ctx, {"name": "x", "trigger": "calendar", "calendar_rule": "nth_weekday", "month": 5})
    assert "nth" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        journeys.create_journey(ctx, {"name": "y", "trigger": "date_field", "date_field": "nope"})
    assert "date_field" in exc.value.errors


def test_an_entry_condition_on_custom_fields_and_plugin_fields(ctx: Any, make_customer: Any) -> None:
    from crmcore.services import custom_fields

    custom_fields.create_field(ctx, {"entity": "customer", "name": "gender", "label": "性别", "type": "text"})
    her, him = make_customer("王芳", attributes={"gender": "female"}), make_customer("李雷", attributes={"gender": "male"})
    journey = running(ctx, "女性", trigger="api", condition={"field": "attributes.gender", "op": "eq", "value": "female"})
    assert triggers.enter(ctx, journey.id, [her.id, him.id])["entered"] == 1
    assert set(entered(ctx, journey)) == {her.id}
    from crmcore.errors import ValidationError

    with pytest.raises(ValidationError) as exc:
        journeys.create_journey(ctx, {"name": "坏条件", "condition": {"field": "attributes.nope", "op": "eq", "value": 1}})
    assert "condition" in exc.value.errors
