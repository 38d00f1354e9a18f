"""The set-based insert of the import loaders: new rows get their ids in order, and on PostgreSQL the ids come
from the table's sequence and the rows go in by a plain executemany, never a multi-row INSERT ... RETURNING (a
new statement of thousands of parameters for the driver to parse every batch)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from crmcore.imports.sql import insert_rows
from crmcore.models import Tag


def test_new_rows_get_their_ids_in_order(ctx: Any) -> None:
    ctx.session.add(Tag(name="before"))
    ctx.session.flush()
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = ctx.session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        ids = insert_rows(ctx, Tag.__table__, [{"name": f"t{n}", "color": None} for n in range(250)])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(set(ids)) == 250
    assert dict(ctx.session.execute(select(Tag.id, Tag.name).where(Tag.name != "before")).all()) == {
        new_id: f"t{n}" for n, new_id in enumerate(ids)}
    assert ids == sorted(ids)
    returning = [s for s in statements if "RETURNING" in s.upper()]
    if engine.dialect.name == "postgresql":
        assert returning == [] and any("nextval" in s for s in statements)
        ctx.session.add(Tag(name="after"))  # the sequence moved on: the ORM's next row does not clash
        ctx.session.flush()
    else:  # SQLite: one executemany, the ids read after it (they are consecutive), no INSERT per row
        assert returning == [] and sum(s.upper().startswith("INSERT") for s in statements) == 1
    assert insert_rows(ctx, Tag.__table__, []) == []


def test_ids_stay_right_after_gaps_and_deleted_last_rows(ctx: Any) -> None:
    """Rows deleted at the end and in the middle, rows added by the ORM between batches: every batch's ids are the
    ones its rows got."""
    first = insert_rows(ctx, Tag.__table__, [{"name": f"a{n}", "color": None} for n in range(10)])
    for tag in ctx.session.scalars(select(Tag).where(Tag.id.in_([first[3], first[-1], first[-2]]))):
        ctx.session.delete(tag)
    ctx.session.flush()
    second = insert_rows(ctx, Tag.__table__, [{"name": f"b{n}", "color": None} for n in range(5)])
    ctx.session.add(Tag(name="orm"))
    ctx.session.flush()
    third = insert_rows(ctx, Tag.__table__, [{"name": f"c{n}", "color": None} for n in range(7)])
    stored = dict(ctx.session.execute(select(Tag.id, Tag.name)).all())
    for prefix, ids in (("b", second), ("c", third)):
        assert [stored[i] for i in ids] == [f"{prefix}{n}" for n in range(len(ids))]
    assert len(set(second + third)) == 12  # (SQLite may give a deleted last row's id again: each batch still knows its own)
