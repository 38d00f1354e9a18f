"""Change stamps (``services.stamps``): every write of a table that names a stamp moves it in the writer's
transaction, however it is sent; what a process keeps under a stamp is read again once it moved."""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, text, update

from crmcore.models import ChangeStamp, CustomField
from crmcore.models.custom_field import seed_stamps, stamp_names
from crmcore.services import stamps


def version(rt: Any, name: str = "custom_fields") -> int | None:
    with rt.db.engine.connect() as conn:
        return conn.scalar(select(ChangeStamp.version).where(ChangeStamp.name == name))


def _field(name: str = "tier") -> dict[str, Any]:
    return {"entity": "customer", "name": name, "label": name.title(), "type": "text"}


def test_every_way_of_writing_a_stamped_table_moves_its_stamp(rt: Any, ctx: Any) -> None:
    table = CustomField.__table__
    start = version(rt)
    assert start is not None
    ctx.session.add(CustomField(**_field()))  # an ORM flush
    ctx.session.commit()
    assert version(rt) == start + 1
    ctx.session.execute(update(CustomField).values(label="Tier 2"))  # an ORM-enabled bulk UPDATE
    ctx.session.commit()
    assert version(rt) == start + 2
    ctx.session.execute(insert(table), [_field("a"), _field("b")])  # a Core executemany through the session
    ctx.session.commit()
    assert version(rt) == start + 3
    with rt.db.engine.begin() as conn:  # a plain connection, no session
        conn.execute(delete(table).where(table.c.name == "a"))
    assert version(rt) == start + 4
    ctx.session.execute(select(CustomField)).all()  # a read moves nothing
    ctx.session.commit()
    assert version(rt) == start + 4


def test_a_rolled_back_write_leaves_the_stamp(rt: Any, ctx: Any) -> None:
    start = version(rt)
    ctx.session.add(CustomField(**_field()))
    ctx.session.flush()
    assert ctx.session.scalar(select(ChangeStamp.version).where(ChangeStamp.name == "custom_fields")) == start + 1
    ctx.session.rollback()
    assert version(rt) == start


def test_plain_sql_text_is_not_seen_and_bump_moves_the_stamp(rt: Any, ctx: Any) -> None:
    start = version(rt)
    ctx.session.execute(text("UPDATE custom_fields SET label = 'x'"))
    ctx.session.commit()
    assert version(rt) == start  # documented: a writer of plain SQL calls ``bump`` itself
    ctx.session.execute(text("UPDATE custom_fields SET label = 'y'"))
    stamps.bump(ctx.session, "custom_fields")
    ctx.session.commit()
    assert version(rt) == start + 1


def test_a_stamp_without_its_row_gets_one_at_its_first_change(rt: Any, ctx: Any) -> None:
    with rt.db.engine.begin() as conn:
        conn.execute(delete(ChangeStamp).where(ChangeStamp.name == "custom_fields"))
    assert version(rt) is None
    ctx.session.add(CustomField(**_field()))
    ctx.session.commit()
    assert version(rt) == 1
    ctx.session.add(CustomField(**_field("second")))
    ctx.session.commit()
    assert version(rt) == 2


def test_seeding_gives_each_named_stamp_its_row_once(rt: Any) -> None:
    assert "custom_fields" in stamp_names()
    with rt.db.engine.begin() as conn:
        conn.execute(delete(ChangeStamp))
        conn.execute(insert(ChangeStamp).values(name="custom_fields", version=7))
        seed_stamps(conn)
        seed_stamps(conn)  # again: nothing twice, nothing reset
        rows = dict(conn.execute(select(ChangeStamp.name, ChangeStamp.version)).all())
    assert rows == {name: (7 if name == "custom_fields" else 0) for name in stamp_names()}


def test_a_session_forgets_a_stamp_it_writes_itself(rt: Any, ctx: Any) -> None:
    stamps.remember(ctx.session, "custom_fields", 3)
    assert stamps.known(ctx.session, "custom_fields") == 3
    ctx.session.add(CustomField(**_field()))
    ctx.session.flush()
    assert stamps.known(ctx.session, "custom_fields") is None  # it reads its own change from now on
    ctx.session.rollback()


def test_kept_value_reads_again_only_when_the_stamp_moved(ctx: Any) -> None:
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        return len(reads)

    stamps.forget_kept()
    assert stamps.kept_value(ctx.session, "test_stamp", read) == 1  # not known: read
    assert stamps.kept_value(ctx.session, "test_stamp", read) == 2  # not known: read each time
    stamps.remember(ctx.session, "test_stamp", 5)
    assert stamps.kept_value(ctx.session, "test_stamp", read) == 3
    assert stamps.kept_value(ctx.session, "test_stamp", read) == 3  # kept under 5
    stamps.remember(ctx.session, "test_stamp", 6)
    assert stamps.kept_value(ctx.session, "test_stamp", read) == 4
    assert stamps.kept("test_stamp") == {6: 4}  # the newest version's only
    stamps.forget_kept()
    assert stamps.kept_value(ctx.session, "test_stamp", read) == 5


def test_work_after_a_commit_knows_the_stamps_of_its_request(ctx: Any) -> None:
    stamps.remember(ctx.session, "custom_fields", 4)
    fresh = ctx.fresh()
    try:
        assert stamps.known(fresh.session, "custom_fields") == 4
    finally:
        fresh.session.close()


def test_the_token_statement_reads_every_stamp(rt: Any, ctx: Any) -> None:
    from crmcore.services import users as user_svc

    with rt.db.engine.begin() as conn:
        conn.execute(update(ChangeStamp).where(ChangeStamp.name == "custom_fields").values(version=41))
    user = user_svc.create_user(ctx, "stamped", "a-long-pass-phrase-1", "admin")
    plain = user_svc.create_token(ctx, user)[1]
    session = rt.db.new_session()
    try:
        user_svc.user_for_token(session, plain)
        assert {n: stamps.known(session, n) for n in stamp_names()} == {n: version(rt, n) for n in stamp_names()}
        assert stamps.known(session, "custom_fields") == 41
    finally:
        session.close()
