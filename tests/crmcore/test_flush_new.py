"""``db.flush_new``: one new record written by one Core INSERT in the plain case, leaving it exactly as the ORM's
flush would (persistent, unchanged, with its key, defaults and version); anything else goes to the flush."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Integer, String, event, func, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from crmcore.db import flush_context_free, flush_new
from crmcore.errors import ValidationError
from crmcore.models import Customer, Tag, customer_tags
from crmcore.services import customers as svc

COLUMNS = [attr.key for attr in inspect(Customer).column_attrs]


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the ORM's flush ran with something to write (``Session._flush``: a flush of a clean session,
    an autoflush before a query, returns before it)."""
    calls: list[int] = []
    real = Session._flush

    def counting(self: Session, objects: Any = None) -> None:
        calls.append(1)
        real(self, objects)

    monkeypatch.setattr(Session, "_flush", counting)
    return calls


def _new(ctx: Any, name: str, **values: Any) -> Customer:
    customer = Customer(code=f"T-{name}", name=name, currency="CNY", attributes={"a": 1}, **values)
    customer.contacts, customer.addresses, customer.tags = [], [], []
    ctx.session.add(customer)
    return customer


def _plain(customer: Customer) -> dict[str, Any]:
    return {key: getattr(customer, key) for key in COLUMNS if key not in ("id", "code", "name", "created_at",
                                                                          "updated_at", "search_text", "name_key")}


def test_the_record_is_as_the_flush_leaves_it(ctx: Any, flushes: list[int]) -> None:
    from crmcore.services import users as user_svc

    owner = user_svc.create_user(ctx, "owner", "a-long-pass-phrase-1", "sales")
    by_orm = _new(ctx, "甲", phone="0574-87650001", owner_id=owner.id)
    ctx.session.flush()
    flushes.clear()
    by_core = _new(ctx, "乙", phone="0574-87650001", owner_id=owner.id)
    flush_new(ctx.session, by_core)
    assert flushes == []  # the Core INSERT, not the flush
    state = inspect(by_core)
    assert state.persistent and not state.modified and not ctx.session.new and not ctx.session.dirty
    assert by_core.id is not None and by_core.version == 1 and by_core.created_at is not None
    assert _plain(by_core) == _plain(by_orm)
    assert ctx.session.get(Customer, by_core.id) is by_core  # in the identity map
    assert by_core.owner is owner  # a many-to-one by its key: loaded when read
    assert by_core.tags == [] and by_core.contacts == []
    ctx.session.commit()
    stored = ctx.session.execute(select(*[Customer.__table__.c[k] for k in COLUMNS]).where(Customer.id == by_core.id)).one()
    assert dict(zip(COLUMNS, stored, strict=True)) == {k: getattr(by_core, k) for k in COLUMNS}
    by_core.industry = "茶"
    ctx.session.commit()
    assert by_core.version == 2  # the version counter goes on as after a flush


def test_a_service_write_goes_the_core_way_and_is_read_back_alike(ctx: Any, flushes: list[int]) -> None:
    customer = svc.create_customer(ctx, {"name": "杭州西湖茶业有限公司", "phone": "0571-87650001",
                                         "email": "Tea@Example.com"})
    assert flushes == []
    got = svc.get_customer(ctx, customer.id)
    assert got.email_normalized == "tea@example.com" and got.phone_normalized == "+8657187650001"
    updated = svc.update_customer(ctx, customer.id, {"industry": "茶"}, expected_version=1)
    assert updated.version == 2


def test_too_long_a_value_is_refused_and_nothing_written(ctx: Any) -> None:
    customer = _new(ctx, "x" * 500)
    with pytest.raises(ValidationError):
        flush_new(ctx.session, customer)
    ctx.session.rollback()
    assert ctx.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_tags_another_pending_record_or_a_changed_one_go_to_the_flush(ctx: Any, flushes: list[int]) -> None:
    tagged = _new(ctx, "有标签")
    tagged.tags = [Tag(name="VIP")]
    flush_new(ctx.session, tagged)
    assert len(flushes) == 1
    assert ctx.session.scalar(select(func.count()).select_from(customer_tags)) == 1
    first, second = _new(ctx, "一"), _new(ctx, "二")
    flush_new(ctx.session, first)
    assert len(flushes) == 2 and second.id is not None  # both written by the flush
    tagged.industry = "茶"
    third = _new(ctx, "三")
    flush_new(ctx.session, third)
    assert len(flushes) == 3 and not inspect(tagged).modified


def test_a_listener_that_needs_the_flush_gets_it(ctx: Any, flushes: list[int]) -> None:
    seen: list[Any] = []

    def on_insert(mapper: Any, connection: Any, target: Any) -> None:
        seen.append(target)

    event.listen(Customer, "before_insert", on_insert)
    try:
        customer = _new(ctx, "甲")
        flush_new(ctx.session, customer)
    finally:
        event.remove(Customer, "before_insert", on_insert)
    assert seen == [customer] and len(flushes) == 1

    contexts: list[Any] = []

    def after_flush(session: Any, flush_context: Any) -> None:
        contexts.append(flush_context)

    event.listen(Session, "after_flush", after_flush)
    try:
        flush_new(ctx.session, _new(ctx, "乙"))
    finally:
        event.remove(Session, "after_flush", after_flush)
    assert len(flushes) == 2 and contexts and contexts[0] is not None  # a real flush, with its context


def test_a_listener_marked_context_free_is_called_around_the_insert(ctx: Any, flushes: list[int]) -> None:
    seen: list[tuple[str, bool]] = []

    @flush_context_free
    def before(session: Any, flush_context: Any, instances: Any) -> None:
        seen.append(("before", bool(session.new)))

    @flush_context_free
    def after(session: Any, flush_context: Any) -> None:
        seen.append(("after", bool(session.new)))

    event.listen(Session, "before_flush", before)
    event.listen(Session, "after_flush", after)
    try:
        flush_new(ctx.session, _new(ctx, "甲"))
    finally:
        event.remove(Session, "before_flush", before)
        event.remove(Session, "after_flush", after)
    assert flushes == [] and seen == [("before", True), ("after", True)]  # as in a flush: the record still new


def test_an_attribute_named_apart_from_its_column(rt: Any, flushes: list[int]) -> None:
    """Values go to the INSERT by column, and come back to the attributes."""
    class Local(DeclarativeBase):
        pass

    class Thing(Local):
        __tablename__ = "flush_new_things"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        kind: Mapped[str] = mapped_column("type", String(20))
        made: Mapped[int] = mapped_column("made_n", Integer, default=7)

    Local.metadata.create_all(rt.db.engine)
    session = rt.db.new_session()
    try:
        thing = Thing(kind="pump")
        session.add(thing)
        flush_new(session, thing)
        assert flushes == [] and thing.id is not None and thing.made == 7 and not inspect(thing).modified
        session.commit()
        table = Thing.__table__
        assert session.execute(select(table.c.type, table.c.made_n)).one() == ("pump", 7)
    finally:
        session.close()
        Local.metadata.drop_all(rt.db.engine)


@pytest.mark.parametrize("by_core", [True, False])
def test_a_rolled_back_savepoint_takes_the_record_out_as_after_a_flush(ctx: Any, by_core: bool) -> None:
    """Undone with its savepoint, the record leaves the session (transient again), so the next record the database
    gives the same key is not refused as already present (an ERP sync keeps going after a bad record so)."""
    kept = _new(ctx, "留下")
    ctx.session.flush()
    savepoint = ctx.session.begin_nested()
    undone = _new(ctx, "撤销")
    flush_new(ctx.session, undone) if by_core else ctx.session.flush()
    undone_id = undone.id
    savepoint.rollback()
    assert inspect(undone).transient and undone not in ctx.session
    again = _new(ctx, "再来")
    flush_new(ctx.session, again)
    ctx.session.commit()
    assert inspect(again).persistent and again.id is not None and kept.id != again.id
    if ctx.session.get_bind().dialect.name == "sqlite":
        assert again.id == undone_id  # SQLite gives the key again: the case that broke


def test_mark_stored_leaves_a_record_written_by_core_unchanged_for_the_flush(ctx: Any, flushes: list[int]) -> None:
    """``db.mark_stored``: after a Core UPDATE wrote a record's changed values, the record holds them as stored
    and is no longer among the session's changed records: the next flush writes nothing for it, and a change made
    after it is flushed as usual."""
    from sqlalchemy import update

    from crmcore.db import mark_stored

    customer = _new(ctx, "Acme")
    ctx.session.flush()
    flushes.clear()
    customer.name, customer.notes = "Acme Ltd", "changed in Python"  # as a service changes a batch's records
    table = Customer.__table__  # written by Core on the session's connection (no autoflush), as a bulk path does
    ctx.session.connection().execute(update(table).where(table.c.id == customer.id).values(
        name="Acme Ltd", notes="changed in Python", version=table.c.version + 1))
    mark_stored(ctx.session, customer, {"name": "Acme Ltd", "notes": "changed in Python", "version": 2})
    assert customer not in ctx.session.dirty and not inspect(customer).modified
    assert (customer.name, customer.version) == ("Acme Ltd", 2)
    ctx.session.flush()
    assert flushes == []  # nothing left to write
    customer.stage = "customer"
    ctx.session.flush()
    assert flushes == [1]
    ctx.session.commit()
    row = ctx.session.execute(select(Customer.name, Customer.notes, Customer.stage, Customer.version).where(
        Customer.id == customer.id)).one()
    assert tuple(row) == ("Acme Ltd", "changed in Python", "customer", 3)


def test_a_new_record_and_its_audit_entry_go_in_one_statement_on_postgresql(rt: Any, ctx: Any) -> None:
    """``events.record_new``: the customer and its audit entry (the entry naming the new id) by one statement on
    PostgreSQL (``WITH new AS (INSERT ...) INSERT ... SELECT``), by two elsewhere; one transaction either way, undone
    whole by a rollback; the entry the same as ``record_change`` writes."""
    from crmcore.events import record_change, record_new
    from crmcore.models import AuditLog

    statements: list[str] = []

    def count(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        statements.append(sql.split()[0].upper())

    event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        by_one = _new(ctx, "甲")
        record_new(ctx, "customer", by_one, {"name": [None, "甲"]}, {"note": "x"})
        writes = [s for s in statements if s != "BEGIN"]
        assert writes == (["WITH"] if rt.db.engine.dialect.name == "postgresql" else ["INSERT", "INSERT"])
        by_two = _new(ctx, "乙")
        flush_new(ctx.session, by_two)
        record_change(ctx, "customer", "created", by_two.id, {"name": [None, "乙"]}, {"note": "x"})
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", count)
    entries = {e.entity_id: e for e in ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "customer"))}
    one, two = entries[str(by_one.id)], entries[str(by_two.id)]
    assert (one.action, one.source, one.actor_label, one.data, one.changes) == \
        (two.action, two.source, two.actor_label, two.data, {"name": [None, "甲"]})
    assert one.at is not None and one.event_id
    ctx.session.rollback()
    assert ctx.session.scalar(select(func.count()).select_from(AuditLog)) == 0
    assert ctx.session.scalar(select(func.count()).select_from(Customer)) == 0
