"""The condition language's two back-ends agree: for every type and operator, evaluating on each loaded
record selects exactly the rows the compiled SQL selects (SQLite, or PostgreSQL from CRM_TEST_DATABASE_URL)."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Boolean, Date, Integer, MetaData, Numeric, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from crmcore import conditions as cond
from crmcore.db import UTCDateTime

UTC = dt.timezone.utc


class _Base(DeclarativeBase):
    metadata = MetaData()


class Thing(_Base):
    __tablename__ = "test_condition_thing"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(60))
    count: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    total: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    day: Mapped[dt.date | None] = mapped_column(Date)
    at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    flag: Mapped[bool | None] = mapped_column(Boolean)


KINDS = {"name": "str", "count": "int", "score": "num", "total": "money", "day": "date", "at": "datetime",
         "flag": "bool"}
FIELDS = {name: cond.Field(name, kind, getattr(Thing, name)) for name, kind in KINDS.items()}
ROWS = [
    dict(name="Acme Ltd", count=5, score=Decimal("15.5"), total=Decimal("1000.00"), day=dt.date(2026, 3, 1),
         at=dt.datetime(2026, 3, 1, 8, tzinfo=UTC), flag=True),
    dict(name="acme", count=0, score=Decimal("0"), total=Decimal("0.00"), day=dt.date(2026, 1, 31),
         at=dt.datetime(2026, 1, 31, 23, 59, tzinfo=UTC), flag=False),
    dict(name="", count=-3, score=Decimal("-2.25"), total=Decimal("99.99"), day=dt.date(2025, 12, 31),
         at=dt.datetime(2026, 3, 1, 0, tzinfo=UTC), flag=None),
    dict(name="北京客户", count=None, score=None, total=None, day=None, at=None, flag=True),
    dict(name="50%_off", count=15, score=Decimal("15.50"), total=Decimal("1000"), day=dt.date(2026, 3, 1),
         at=None, flag=False),
    dict(name=None, count=5, score=Decimal("100"), total=Decimal("-1.50"), day=dt.date(2026, 6, 1),
         at=dt.datetime(2025, 6, 1, tzinfo=UTC), flag=None),
]
VALUES: dict[str, list[Any]] = {
    "str": ["Acme Ltd", "ACME", "acme", "%_", "北京", "", "50%"],
    "int": [5, 0, -3, 15],
    "num": [15.5, "15.50", 0, "-2.25", 100],
    "money": ["1000", 99.99, 0, "-1.5"],
    "date": ["2026-03-01", "2026-01-31", "2025-12-31"],
    "datetime": ["2026-03-01T08:00:00+00:00", "2026-03-01T16:00:00+08:00", "2026-01-31T23:59:00Z"],
    "bool": [True, False],
}


def _leaves() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, kind in KINDS.items():
        values = VALUES[kind]
        for op in cond.KIND_OPS[kind]:
            if op in ("is_true", "is_false"):
                out.append({"field": name, "op": op})
            elif op == "is_null":
                out += [{"field": name, "op": op}, {"field": name, "op": op, "value": False}]
            elif op in cond.LIST_OPS:
                out += [{"field": name, "op": op, "value": values[:2]}, {"field": name, "op": op, "value": []}]
            else:
                out += [{"field": name, "op": op, "value": v} for v in values]
    return out


LEAVES = _leaves()


@pytest.fixture
def session(database: Any) -> Any:
    _Base.metadata.drop_all(database.engine)
    _Base.metadata.create_all(database.engine)
    with Session(database.engine) as s:
        s.add_all(Thing(id=i, **row) for i, row in enumerate(ROWS, 1))
        s.commit()
        yield s
    _Base.metadata.drop_all(database.engine)


def _agree(session: Session, condition: dict[str, Any]) -> None:
    records = list(session.scalars(select(Thing).order_by(Thing.id)))
    by_python = {r.id for r in records if cond.evaluate(condition, r)}
    by_sql = set(session.scalars(select(Thing.id).where(cond.compile_sql(condition, FIELDS))))
    assert by_python == by_sql, condition


def test_every_operator_and_type_agrees(session: Session) -> None:
    for leaf in LEAVES:
        _agree(session, leaf)
        _agree(session, {"not": leaf})


def test_groups_agree(session: Session) -> None:
    picked = LEAVES[::7]
    for a, b in itertools.islice(itertools.combinations(picked, 2), 300):
        _agree(session, {"all": [a, {"not": b}]})
        _agree(session, {"not": {"any": [a, b]}})


def test_the_operators_select_what_they_say(session: Session) -> None:
    def ids(condition: dict[str, Any]) -> set[int]:
        return set(session.scalars(select(Thing.id).where(cond.compile_sql(condition, FIELDS))))

    assert ids({"field": "name", "op": "contains", "value": "ACME"}) == {1, 2}  # text matching ignores case
    assert ids({"field": "name", "op": "contains", "value": "%_"}) == {5}  # wildcards are literal
    assert ids({"field": "name", "op": "is_null"}) == {3, 6}  # empty text is empty
    assert ids({"field": "count", "op": "ne", "value": 5}) == {2, 3, 4, 5}  # empty differs from a value
    assert ids({"not": {"field": "count", "op": "gt", "value": 0}}) == {2, 3, 4}  # two-valued: not means not
    assert ids({"field": "at", "op": "gte", "value": "2026-03-01T16:00:00+08:00"}) == {1}
    assert ids({"field": "total", "op": "eq", "value": "1000"}) == {1, 5}


@pytest.mark.parametrize("condition, path, words", [
    ({"field": "nmae", "op": "eq", "value": "x"}, "conditions.field", "name"),  # near names are offered
    ({"field": "count", "op": "contains", "value": 1}, "conditions.op", "lt"),
    ({"field": "count", "op": "eq", "value": "five"}, "conditions.value", ""),
    ({"field": "at", "op": "gt", "value": "2026-03-01T00:00:00"}, "conditions.value", ""),  # no time zone
    ({"field": "name", "op": "in", "value": ["a"] * (cond.MAX_LIST + 1)}, "conditions.value", ""),
    ({"field": "name", "op": "is_null", "value": "yes"}, "conditions.value", ""),
    ({"predicate": "x.y"}, "conditions.predicate", ""),
    ({"field": "name", "op": "changed"}, "conditions.op", ""),  # no SQL for 'changed'
])
def test_sql_validation_names_the_path(condition: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(cond.ConditionError) as err:
        cond.compile_sql(condition, FIELDS)
    assert path in err.value.errors and words in " ".join(err.value.errors[path])


def test_one_set_of_limits_for_both_back_ends() -> None:
    deep: dict[str, Any] = {"field": "name", "op": "eq", "value": "x"}
    for _ in range(cond.MAX_DEPTH):
        deep = {"not": deep}
    assert cond.validate(deep) == [] and cond.validate_sql(deep, FIELDS) == {}
    deeper = {"not": deep}
    assert cond.validate(deeper) and cond.validate_sql(deeper, FIELDS)
    wide = {"any": [{"field": "name", "op": "eq", "value": "x"}] * (cond.MAX_NODES + 1)}
    assert cond.validate(wide) and cond.validate_sql(wide, FIELDS)
