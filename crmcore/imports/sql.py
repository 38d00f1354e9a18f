"""Set-based writes for import loaders: new records built as transient objects, written one INSERT per table."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, text

from ..db import transient as db_transient

if TYPE_CHECKING:
    from ..runtime import ServiceContext


def insert_rows(ctx: ServiceContext, table: Any, rows: list[dict[str, Any]], returning: bool = True) -> list[int]:
    """Insert rows in one statement (executemany / multi-row VALUES); their new ids in order.

    On PostgreSQL the ids are drawn from the table's sequence first (one query) and the rows inserted with
    them by a plain ``executemany``: a multi-row ``INSERT ... RETURNING`` of a thousand rows is a new
    statement of thousands of parameters every time, which the driver parses again each time (most of a
    bulk write's cost there)."""
    if not rows:
        return []
    if not returning:
        ctx.session.execute(insert(table), rows)
        return []
    ids = _sequence_ids(ctx, table, len(rows))
    if ids is not None:
        ctx.session.execute(insert(table), [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)])
        return ids
    dialect = ctx.session.get_bind().dialect
    if dialect.name == "sqlite" and _rowid_key(table, dialect):
        return _sqlite_insert(ctx, table, rows)
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(ctx.session.execute(stmt, rows).scalars())


def _rowid_key(table: Any, dialect: Any) -> bool:
    """Whether the table's key is SQLite's rowid: one primary key column ``id`` declared ``INTEGER`` (only that
    type makes a column the rowid; ``BIGINT PRIMARY KEY`` does not)."""
    key = list(table.primary_key.columns)
    return len(key) == 1 and key[0].name == "id" and key[0].type.compile(dialect=dialect).upper() == "INTEGER"


def _sqlite_insert(ctx: ServiceContext, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """The rows by one ``executemany``, their ids read after it: SQLite gives each new row of a table whose key
    is its rowid one more than the largest rowid before it (https://sqlite.org/autoinc.html; with AUTOINCREMENT
    at least that), and the transaction holds the database's only write lock from its first write to its commit,
    so the rows of one statement take consecutive ids ending at the largest one after it. (``INSERT ...
    RETURNING`` in parameter order is one statement per row on SQLite: most of an order import's time.)"""
    if any("id" in row for row in rows):
        raise ValueError("rows inserted by insert_rows get their ids from the database")
    ctx.session.execute(insert(table), rows)
    last = int(ctx.session.scalar(select(func.max(table.c.id))) or 0)  # never 0: the rows are in
    return list(range(last - len(rows) + 1, last + 1))


def _sequence_ids(ctx: ServiceContext, table: Any, count: int) -> list[int] | None:
    """``count`` new ids of ``table`` from its PostgreSQL sequence, in order; None elsewhere or without one."""
    if ctx.session.get_bind().dialect.name != "postgresql" or "id" not in table.c:
        return None
    sequence = ctx.session.scalar(text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.fullname})
    if sequence is None:
        return None
    return list(ctx.session.scalars(text("SELECT nextval(:sequence) FROM generate_series(1, :count) AS n ORDER BY n"),
                                    {"sequence": sequence, "count": count}))


@functools.cache
def _defaults(table: Any) -> tuple[tuple[str, Any], ...]:
    """``(column, default)`` of the table's columns with a Python-side default (a value or a callable)."""
    out = []
    for column in table.columns:
        default = column.default
        if default is not None and (default.is_scalar or default.is_callable):
            out.append((column.name, default))
    return tuple(out)


@functools.cache
def _columns(cls: Any, table: Any) -> tuple[tuple[str, str], ...]:
    """``(attribute, column)`` of the mapped class's columns in ``table``, the primary key ``id`` left out."""
    from sqlalchemy import inspect as sa_inspect

    mapper: Any = sa_inspect(cls, raiseerr=False)
    if mapper is None:
        return tuple((c.name, c.name) for c in table.columns if c.name != "id")
    return tuple((attr.key, attr.columns[0].name) for attr in mapper.column_attrs
                 if len(attr.columns) == 1 and attr.columns[0].table is table and attr.columns[0].name != "id")


def row_values(obj: Any, table: Any, now: Any, **fixed: Any) -> dict[str, Any]:
    """A transient object's column values for a Core insert (every column but the id), the column's
    default where the object has none (as a flush would give it), ``created_at``/``updated_at`` = ``now``;
    ``fixed``: column values to set (``customer_id=...``)."""
    state = obj.__dict__  # what was set on it (no attribute events: it is never flushed)
    cls: Any = type(obj)
    out = {column: state.get(attr) for attr, column in _columns(cls, table)}
    for name, default in _defaults(table):
        if out.get(name) is None:
            out[name] = default.arg if default.is_scalar else default.arg(None)
    for name in ("created_at", "updated_at"):
        if name in out:
            out[name] = now
    out.update(fixed)
    return out


def created_changes(values: dict[str, Any]) -> dict[str, list[Any]]:
    """The audit's changes of a new record: ``apply_changes`` on an empty one (every value that is not None)."""
    return {k: [None, v] for k, v in values.items() if v is not None}


def transient(cls: Any, **values: Any) -> Any:
    """A new, never flushed instance of a model with these attribute values, set without attribute events
    (a batch builds thousands: each event costs; the hooks and :func:`row_values` read them all the same)."""
    return db_transient(cls, values)
