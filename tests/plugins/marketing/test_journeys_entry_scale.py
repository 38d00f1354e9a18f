"""Audience and calendar triggers enter set-based (``INSERT ... SELECT`` over ranges of customer ids): an audience
larger than SQLite's limit on bound parameters enters whole, and a small one enters exactly whom entering by ids
lets in (audience with its static list and exclusions, the entry condition, live customers, each entry once)."""
from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any, Iterator

import pytest
from sqlalchemy import String, cast, event, func, insert, literal, select, update

from crmcore.models import Customer
from plugins.marketing.models_journeys import Enrolment
from plugins.marketing.services import audiences, journeys, triggers

BIG = 40_000  # more than SQLite's 32,766 bound parameters in one statement
SQLITE_DEFAULT_MAX_VARIABLES = 32_766  # SQLite's own default (some builds raise it): the tests hold to it


@pytest.fixture
def default_sqlite_limits(ctx: Any) -> Iterator[None]:
    """On SQLite, every connection the test checks out keeps SQLite's default limit on bound parameters."""
    engine = ctx.session.get_bind()
    if engine.dialect.name != "sqlite":
        yield
        return

    raw = ctx.session.connection().connection.driver_connection
    original = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

    def limit(dbapi_connection: Any, _record: Any, _proxy: Any = None) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_DEFAULT_MAX_VARIABLES)

    def restore(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, original)

    event.listen(engine, "checkout", limit)
    event.listen(engine, "checkin", restore)
    limit(raw, None)
    yield
    restore(ctx.session.connection().connection.driver_connection, None)
    event.remove(engine, "checkout", limit)
    event.remove(engine, "checkin", restore)


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.timezone.utc)


def running(ctx: Any, name: str, **trigger: Any) -> Any:
    journey = journeys.create_journey(ctx, {"name": name, **trigger})
    journeys.add_step(ctx, journey.id, {"name": "等", "kind": "wait", "wait_days": 1})
    journeys.start(ctx, journey.id)
    return journey


def rows(ctx: Any, journey: Any) -> set[tuple[int, str, int | None, int, str]]:
    return {tuple(r) for r in ctx.session.execute(select(
        Enrolment.customer_id, Enrolment.entry, Enrolment.step_id, Enrolment.version, Enrolment.state)
        .where(Enrolment.campaign_id == journey.id))}


def many_customers(ctx: Any, n: int, level: str) -> None:
    """``n`` customers made in one statement (a recursive series), all of ``level``."""
    series = select(literal(1).label("n")).cte("series", recursive=True)
    series = series.union_all(select(series.c.n + 1).where(series.c.n < n))
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    c = Customer.__table__.c
    ctx.session.execute(insert(Customer).from_select(
        ["code", "name", "kind", "stage", "level", "currency", "attributes", "completeness", "version",
         "created_at", "updated_at"],
        select(literal("BULK-") + cast(series.c.n, String), literal("客户") + cast(series.c.n, String),
               literal("person"), literal("customer"), literal(level), literal("CNY"),
               literal({}, c.attributes.type), literal(0), literal(1),
               literal(now, c.created_at.type), literal(now, c.updated_at.type))))
    ctx.session.commit()


def test_an_audience_over_the_parameter_limit_enters_whole(ctx: Any, make_customer: Any,
                                                          default_sqlite_limits: None) -> None:
    many_customers(ctx, BIG, "VIP")
    make_customer("普通", level="F")
    vip = audiences.create_audience(ctx, {"name": "VIP", "condition": {"field": "level", "op": "eq", "value": "VIP"}})
    by_audience = running(ctx, "VIP 欢迎", trigger="audience", audience_id=vip.id, recurring=True)
    by_calendar = running(ctx, "双十一", trigger="calendar", calendar_rule="fixed", month=11, day=11,
                          audience_id=vip.id)
    assert triggers.scan(ctx, now=at(dt.date(2027, 11, 11))) == 2 * BIG
    for journey, entry in ((by_audience, "once"), (by_calendar, "2027-11-11")):
        count = ctx.session.scalar(select(func.count(func.distinct(Enrolment.customer_id))).where(
            Enrolment.campaign_id == journey.id, Enrolment.entry == entry))
        assert count == BIG
    assert triggers.scan(ctx, now=at(dt.date(2027, 11, 12))) == 0  # each entry once, looked at again


def test_a_small_audience_enters_whom_entering_by_ids_lets_in(ctx: Any, make_customer: Any) -> None:
    from crmcore.services import custom_fields

    custom_fields.create_field(ctx, {"entity": "customer", "name": "gender", "label": "性别", "type": "text"})
    people = [make_customer(f"客户{i}", level="VIP" if i % 3 else "F",
                            attributes={"gender": "female" if i % 2 else "male"}) for i in range(30)]
    listed = make_customer("名单上的", level="F", attributes={"gender": "female"})
    gone, merged = people[1], people[5]
    ctx.session.execute(update(Customer).where(Customer.id == gone.id).values(deleted_at=at(dt.date(2026, 1, 1))))
    ctx.session.execute(update(Customer).where(Customer.id == merged.id).values(merged_into_id=people[7].id))
    ctx.session.commit()
    blocked = audiences.create_audience(ctx, {"name": "黑名单", "condition": {"field": "name", "op": "eq",
                                                                              "value": "客户11"}})
    vip = audiences.create_audience(ctx, {"name": "VIP", "condition": {"field": "level", "op": "eq", "value": "VIP"},
                                          "exclude": [blocked.id]})
    audiences.add_members(ctx, vip.id, [listed.code])
    condition = {"field": "attributes.gender", "op": "eq", "value": "female"}
    scanned = running(ctx, "扫描", trigger="audience", audience_id=vip.id, condition=condition)
    by_ids = running(ctx, "按编号", trigger="api", audience_id=vip.id, condition=condition)
    everyone = [p.id for p in people] + [listed.id]
    assert triggers.enter(ctx, scanned.id, [people[13].id])["entered"] == 1  # already in before the scan
    expected = triggers.enter(ctx, by_ids.id, everyone)["customer_ids"]
    assert len(expected) >= 8
    assert triggers.scan(ctx, scanned.id, now=at(dt.date(2027, 1, 1))) == len(expected) - 1
    first = {r[2] for r in rows(ctx, scanned)}
    assert len(first) == 1 and None not in first
    assert {r[0] for r in rows(ctx, scanned)} == set(expected)
    assert {(r[1], r[3], r[4]) for r in rows(ctx, scanned)} == {("once", 1, "active")}
    assert listed.id in expected and people[11].id not in expected  # the static list in, the excluded out
    assert not {gone.id, merged.id} & set(expected)
