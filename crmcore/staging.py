"""Heavy reads kept out of SQLite's write lock: a job stages a big SELECT in a TEMP table first.

SQLite lets one writer at a time into the database file; a job that runs an ``INSERT ... SELECT``
over every order holds that lock while the SELECT aggregates, and web requests waiting longer than
the busy timeout fail. Staged, the SELECT fills a per-connection TEMP table (not the database file)
with no write lock held, and the job's write transaction only copies the rows. On PostgreSQL readers
and writers do not block each other: the SELECT is used as it is.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import Column, MetaData, Table, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select


@contextmanager
def staged(session: Session, stmt: Select[Any]) -> Iterator[Select[Any]]:
    """Yield a SELECT of the same columns as ``stmt``: on SQLite one reading a TEMP table that
    ``stmt`` filled before any write (call it before the write transaction starts), else ``stmt``.

    The TEMP table lives on the session's connection, so the session must not be committed between
    staging and the copy; it is dropped when the block ends. Staging is DDL with the values written
    inline, which Python's sqlite3 runs outside a transaction: no read snapshot is kept either, so
    the later write waits its turn (busy timeout) instead of failing on a stale snapshot."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        yield stmt
        return
    name = f"crm_stage_{uuid.uuid4().hex[:12]}"
    conn = session.connection()
    inner = stmt.subquery()
    named = select(*[column.label(f"c{i}") for i, column in enumerate(inner.c)])  # one name per column, in order
    compiled = named.compile(dialect=bind.dialect, compile_kwargs={"literal_binds": True})
    conn.exec_driver_sql(f'CREATE TEMP TABLE "{name}" AS {compiled}')
    table = Table(name, MetaData(), *[Column(f"c{i}") for i in range(len(inner.c))], schema="temp")
    try:
        yield select(*table.c)
    finally:
        session.connection().exec_driver_sql(f'DROP TABLE IF EXISTS temp."{name}"')
