"""A journey's date-field trigger compiled to one SQL query (SQLite and PostgreSQL): yearly anniversaries across
the year end, 29 February on the 28th in other years, N days before and after, a one-off date, a date column,
values that are not dates; and only the matching customers are read, however many there are."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from crmcore.models import Customer
from plugins.marketing.models_journeys import Enrolment
from plugins.marketing.services import journeys, triggers


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.timezone.utc)


def running(ctx: Any, name: str, **trigger: Any) -> Any:
    journey = journeys.create_journey(ctx, {"name": name, "trigger": "date_field", **trigger})
    journeys.add_step(ctx, journey.id, {"name": "等", "kind": "wait", "wait_days": 1})
    journeys.start(ctx, journey.id)
    return journey


def entered(ctx: Any, journey: Any) -> dict[int, str]:
    return dict(ctx.session.execute(select(Enrolment.customer_id, Enrolment.entry)
                                    .where(Enrolment.campaign_id == journey.id)).all())


@pytest.fixture
def birthday(ctx: Any) -> None:
    from crmcore.services import custom_fields

    custom_fields.create_field(ctx, {"entity": "customer", "name": "birthday", "label": "生日", "type": "date"})


def test_yearly_across_the_year_end_and_the_leap_day(ctx: Any, make_customer: Any, birthday: None) -> None:
    new_year = make_customer("甲", attributes={"birthday": "1980-01-02"})
    eve = make_customer("乙", attributes={"birthday": "1985-12-31"})
    leap = make_customer("丙", attributes={"birthday": "1992-02-29"})
    feb28 = make_customer("丁", attributes={"birthday": "1990-02-28"})
    odd = make_customer("戊")  # a value that is not a date, as an old import may have left it
    ctx.session.execute(update(Customer).where(Customer.id == odd.id).values(attributes={"birthday": "12-30-1980"}))
    make_customer("己", attributes={"birthday": "1990-03-01"})
    journey = running(ctx, "生日", date_field="attributes.birthday", offset_days=-3, yearly=True)
    triggers.scan(ctx, journey.id, now=at(dt.date(2027, 12, 27)))
    assert entered(ctx, journey) == {}
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 12, 30))) == 2  # 2 January 2028 - 3 days, caught up
    assert entered(ctx, journey) == {eve.id: "attributes.birthday:2027", new_year.id: "attributes.birthday:2028"}
    journey2 = running(ctx, "生日2", date_field="attributes.birthday", offset_days=0, yearly=True)
    assert triggers.scan(ctx, journey2.id, now=at(dt.date(2027, 2, 28))) == 2  # no 29th in 2027: both on the 28th
    assert set(entered(ctx, journey2)) == {leap.id, feb28.id}
    assert triggers.scan(ctx, journey2.id, now=at(dt.date(2028, 2, 28))) == 1  # 2028 has its 29th
    assert triggers.scan(ctx, journey2.id, now=at(dt.date(2028, 2, 29))) == 1
    rows = ctx.session.execute(select(Enrolment.customer_id, Enrolment.entry)
                               .where(Enrolment.campaign_id == journey2.id)).all()
    assert sorted(e for c, e in rows if c == leap.id) == ["attributes.birthday:2027", "attributes.birthday:2028"]


def test_n_days_after_a_one_off_date(ctx: Any, make_customer: Any) -> None:
    from crmcore.services import custom_fields

    custom_fields.create_field(ctx, {"entity": "customer", "name": "contract_end", "label": "合同到期", "type": "date"})
    ends = make_customer("甲", attributes={"contract_end": "2027-12-25"})
    make_customer("乙", attributes={"contract_end": "2026-12-25"})  # a year earlier: not yearly
    journey = running(ctx, "续约", date_field="attributes.contract_end", offset_days=10, yearly=False)
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2028, 1, 4))) == 1
    assert entered(ctx, journey) == {ends.id: "attributes.contract_end:2027-12-25"}


def test_a_date_column_the_customer_record_carries(ctx: Any, make_customer: Any) -> None:
    old, new = make_customer("甲"), make_customer("乙")
    ctx.session.execute(update(Customer).where(Customer.id == old.id).values(created_at=dt.datetime(2020, 3, 5, 23, 30, tzinfo=dt.timezone.utc)))
    ctx.session.execute(update(Customer).where(Customer.id == new.id).values(created_at=dt.datetime(2027, 3, 6, 0, 10, tzinfo=dt.timezone.utc)))
    ctx.session.commit()
    journey = running(ctx, "周年", date_field="created_at", offset_days=0, yearly=True)
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 3, 5))) == 1
    assert entered(ctx, journey) == {old.id: "created_at:2027"}


def test_only_the_matching_customers_are_read(ctx: Any, make_customer: Any, birthday: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    her = make_customer("甲", attributes={"birthday": "1980-06-15"})
    ctx.session.execute(insert(Customer), [{"code": f"BULK-{i}", "name": f"客户{i}", "attributes": {
        "birthday": f"1980-{1 + i % 12:02d}-{1 + i % 28:02d}"}} for i in range(400) if (1 + i % 12, 1 + i % 28) != (6, 15)])
    ctx.session.commit()
    journey = running(ctx, "生日", date_field="attributes.birthday", offset_days=0, yearly=True)
    read = []
    execute = ctx.session.execute

    def counting(*args: Any, **kwargs: Any) -> Any:
        result = execute(*args, **kwargs)
        try:
            frozen = result.freeze()
        except NotImplementedError:  # a statement that returns no rows
            return result
        read.append(len(frozen.data))
        return frozen()

    monkeypatch.setattr(ctx.session, "execute", counting)
    assert triggers.scan(ctx, journey.id, now=at(dt.date(2027, 6, 15))) == 1
    monkeypatch.undo()
    assert entered(ctx, journey) == {her.id: "attributes.birthday:2027"}
    assert max(read, default=0) < 5  # not the 401 customers
