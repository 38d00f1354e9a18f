"""Change stamps (``ChangeStamp``): a counter per kind of configuration, bumped in the transaction of each change.

A table names the stamps its writes bump in its ``info`` (``__table_args__ = {"info": {"crm_stamps":
("journeys",)}}``). Every INSERT, UPDATE or DELETE of it sent through SQLAlchemy, in any way (an ORM flush, a
bulk or Core statement, a session's or a plain connection's), bumps them first, in the same transaction: a
rollback undoes the bump with the change. Only plain SQL text is not seen: a writer that sends it calls ``bump``.

What a process keeps (the active custom fields, whether an ERP connection takes pushes, the journeys waiting for
events) it keeps under the stamp it read (``kept_value``); a request that knows the stamp (an API request reads
them all in its token's statement: no statement of its own) uses what was kept while the stamp has not moved. A
session that does not know it (the admin's, a job's) reads the configuration as before, and so does every session
while the stamp has no row (``seed_stamps`` gives the rows; the first change makes a missing one). A session's
own write of a watched table makes it forget the stamp: it reads its own change from then on.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ..db import begin_now
from ..models.custom_field import STAMPS_INFO, ChangeStamp, stamp_names

T = TypeVar("T")
_KNOWN = "crm_change_stamps"  # in a session's info: {name: version} read in this session's request
_SESSION = "crm_stamps_session"  # in a connection's info: the info of the session whose transaction it carries
_KEPT: dict[str, dict[int, Any]] = {}  # per process: {name: {version: what is kept under it}}
names = stamp_names  # every stamp there is


def kept(name: str) -> dict[int, Any]:
    """The process's store of what is kept under the stamp ``name``'s versions (the caller keeps one version)."""
    return _KEPT.setdefault(name, {})


def kept_value(session: Session, name: str, read: Callable[[], T]) -> T:
    """What ``read()`` returns (plain data, no ORM objects: it outlives the session), kept by the process under
    the stamp ``name`` as ``session`` knows it; read each time when the session does not know the stamp."""
    version = known(session, name)
    if version is None:
        return read()
    store = kept(name)
    if version in store:
        value: T = store[version]
        return value
    value = read()
    store.clear()  # only the newest version's
    store[version] = value
    return value


def forget_kept() -> None:
    """Forget everything kept (the database was emptied or replaced: a test's wipe, a restore)."""
    for store in _KEPT.values():
        store.clear()


def column(name: str) -> Any:
    """The stamp's version as a column of another statement (NULL when its row is missing)."""
    return select(ChangeStamp.version).where(ChangeStamp.name == name).scalar_subquery().label(f"stamp_{name}")


def columns() -> list[Any]:
    """Every stamp's ``column``: what a statement reads to ``remember_all`` of them."""
    return [column(name) for name in stamp_names()]


def remember(session: Session, name: str, version: int | None) -> None:
    """The stamp ``name`` as this session read it (None: unknown, read the configuration)."""
    if version is not None:
        session.info.setdefault(_KNOWN, {})[name] = version


def remember_all(session: Session, row: Any) -> None:
    """The stamps of a row read with ``columns()`` (its mapping)."""
    for name in stamp_names():
        remember(session, name, row.get(f"stamp_{name}"))


def known(session: Session, name: str) -> int | None:
    """The stamp's version this session read, or None."""
    versions = session.info.get(_KNOWN)
    return versions.get(name) if versions else None


def carry(source: Session, target: Session) -> None:
    """``target`` knows the stamps ``source`` knows (work after a request's commit, on a session of its own)."""
    versions = source.info.get(_KNOWN)
    if versions:
        target.info[_KNOWN] = dict(versions)


def bump(session: Session, name: str) -> None:
    """Move the stamp in the session's transaction (a writer that changes what it stamps by plain SQL text)."""
    connection = session.connection()
    begin_now(connection)  # (its cursor below is the DBAPI's: no engine event opens the transaction for it)
    cursor = connection.connection.cursor()
    try:
        _bump(connection, cursor, [name])
    finally:
        cursor.close()


# ``INSERT ... ON CONFLICT``: a stamp whose row is missing gets it at its first change (SQLite 3.24+, PostgreSQL)
_UPSERT = ("INSERT INTO change_stamps (name, version) VALUES ({p}, 1) "
           "ON CONFLICT (name) DO UPDATE SET version = change_stamps.version + 1")
_SQL: dict[str, str] = {}


def _bump(conn: Any, cursor: Any, names: Any) -> None:
    dialect = conn.dialect
    sql = _SQL.get(dialect.name)
    if sql is None:
        sql = _SQL[dialect.name] = _UPSERT.format(p="?" if dialect.paramstyle == "qmark" else "%s")
    for name in sorted(names):
        cursor.execute(sql, (name,))
    session_info = conn.info.get(_SESSION)
    versions = session_info.get(_KNOWN) if session_info is not None else None
    if versions:
        for name in names:
            versions.pop(name, None)


@sa_event.listens_for(Engine, "before_cursor_execute")
def _bump_watched(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    """A write of a watched table bumps its stamps first, on the statement's own cursor (so in its transaction,
    before any rows it returns; not seen by these events)."""
    if context is None or not (context.isinsert or context.isupdate or context.isdelete):
        return
    table = getattr(getattr(context.compiled, "statement", None), "table", None)
    info = getattr(table, "info", None)  # (a Table's; a lightweight ``table()`` has none)
    stamped = info.get(STAMPS_INFO) if info else None
    if stamped:
        _bump(conn, cursor, stamped)


@sa_event.listens_for(Session, "after_begin")
def _link(session: Session, transaction: Any, connection: Connection) -> None:
    # its writes of watched tables make the session forget those stamps (a connection a later user takes from the
    # pool without a session still names this one: it then forgets what it knew, and only reads again)
    connection.info[_SESSION] = session.info
