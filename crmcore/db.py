"""Database wiring: the declarative base, typed column aliases and the Database object."""
from __future__ import annotations

import datetime as dt
import decimal
import weakref
from pathlib import Path
from typing import Annotated, Any, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, Numeric, String, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

_T = TypeVar("_T")


def changed_rows(result: Any) -> int:
    """Rows an UPDATE or DELETE run through ``Session.execute`` changed (its ``CursorResult.rowcount``)."""
    return int(result.rowcount)


def mapped_columns(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    """``(attribute name, column)`` of each column a model maps: a Core statement's row labelled with the names
    reads like the instance, and an instance's values are read or built by them."""
    from sqlalchemy import inspect

    return tuple((attr.key, attr.columns[0]) for attr in inspect(cls).column_attrs)


def transient(cls: type[_T], values: dict[str, Any]) -> _T:
    """A new, transient ``cls`` holding ``values`` without the ORM's per-attribute change events (what a
    constructor pays for each field): for the many records a bulk path builds; added to a session, it is
    inserted with these values as any new record is."""
    obj: _T = cls.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    obj.__dict__.update(values)
    return obj


FLUSH_CONTEXT_FREE = "crm_flush_context_free"


def flush_context_free(fn: _T) -> _T:
    """Mark a session flush listener (``before_flush``, ``after_flush``, ``after_flush_postexec``) as one that reads
    only the session (its ``new``, ``dirty`` and ``deleted``), never the flush context it is given: ``flush_new``
    may call it around its INSERT (with None for the context) instead of falling back to the ORM's flush."""
    setattr(fn, FLUSH_CONTEXT_FREE, True)
    return fn


#: a row written with a new record by ``flush_new``: (its table, its values, the column that takes the record's key)
Also = tuple[Any, dict[str, Any], str]


def flush_new(session: Session, obj: Any, also: Also | None = None) -> None:
    """Flush a session whose only pending change is one new record, ``obj``: by one Core ``INSERT ... RETURNING``
    in the plain case, by the ORM's flush otherwise. Either way ``obj`` is then persistent and unchanged, with its
    key, defaults and version, and the session's flush listeners ran.

    For one record the unit of work cost several times its INSERT: a fifth of an API write. The plain case: nothing
    else pending, changed or deleted; a class of one table, with no insert events; relationships not set or empty
    collections (a many-to-one by its key column); every session flush listener marked ``flush_context_free``.

    ``also``: ``(table, values, column)``, a row that refers to the new record (its audit entry), written with it,
    ``column`` taking the record's key (as text in a text column). In the plain case on PostgreSQL it goes in the
    record's own statement (``WITH new AS (INSERT ... RETURNING) INSERT ... SELECT FROM new``): a round trip less
    for every API write; otherwise by its own INSERT just after. The table's Python-side defaults are not applied
    to it: give every value."""
    from sqlalchemy import inspect

    state: Any = inspect(obj)
    if not _plain_new(session, state):
        session.flush()
        if also is not None:
            _insert_also(session, also, state.identity[0])
        return
    mapper = state.mapper
    for listener in session.dispatch.before_flush:
        listener(session, None, None)
    version = mapper.version_id_col
    if version is not None:
        key = mapper.get_property_by_column(version).key
        if state.dict.get(key) is None:
            state.dict[key] = mapper.version_id_generator(None)
    values = {column.key: state.dict[key] for key, column in _columns(mapper) if key in state.dict}  # by column
    given = tuple(values)
    connection = session.connection()
    key_column = mapper.primary_key[0]
    together = also is not None and connection.dialect.name == "postgresql" and len(mapper.primary_key) == 1 \
        and key_column.key not in given  # else ``also`` goes after the record, by its own statement
    if also is not None and together:
        table, also_values, column = also
        statement, generated = _insert_with(mapper, given, table, tuple(also_values), column)
        values = {**{f"r_{k}": v for k, v in values.items()}, **{f"a_{k}": v for k, v in also_values.items()}}
    else:
        statement, generated = _INSERTS.get((mapper, given)) or _insert_for(mapper, given)
    row = connection.execute(statement, values).one()
    state.dict.update(zip(generated, row, strict=True))  # the key, defaults: what was given stays as it was
    if also is not None and not together:
        _insert_also(session, also, state.dict[mapper.get_property_by_column(key_column).key])
    for listener in session.dispatch.after_flush:
        listener(session, None)
    # persistent as the flush makes it (its own step, ``Session._register_persistent``): keyed in the identity map,
    # nothing changed, and new to the transaction, so a rollback (of a savepoint too) takes it out of the session
    # again as it does a flushed record, rather than leaving it there under a key the database may give again
    session._register_persistent({state})
    for listener in session.dispatch.after_flush_postexec:
        listener(session, None)


def mark_stored(session: Session, obj: Any, values: dict[str, Any]) -> None:
    """``obj`` holds ``values`` (of its column attributes) as stored, a Core UPDATE having written them, and nothing
    else changed: the values set without history, and the record no longer counted as changed, so a flush passes it
    by. (Values set without history alone left it among the session's changed records: every later flush of a batch
    compared each attribute of each of them, a third of a payment import.) Only for a record whose every change
    was written."""
    from sqlalchemy import inspect

    state: Any = inspect(obj)
    state.dict.update(values)  # as ``set_committed_value`` sets a column's value, without its per-key commit
    state._commit_all(state.dict, session.identity_map)  # the flush's own step after writing a record


_INSERTS: dict[tuple[Any, tuple[str, ...]], tuple[Any, tuple[str, ...]]] = {}


def _insert_for(mapper: Any, given: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
    """The INSERT of a record with the values ``given`` (column keys) returning the columns it generates, and
    their attributes (built once per class and set of values given)."""
    from sqlalchemy import insert

    generated = [(key, column) for key, column in _columns(mapper) if column.key not in given]
    found = _INSERTS[(mapper, given)] = (insert(mapper.local_table).returning(*(c for _k, c in generated)),
                                         tuple(k for k, _c in generated))
    return found


def _insert_with(mapper: Any, given: tuple[str, ...], table: Any, also: tuple[str, ...], column: str
                 ) -> tuple[Any, tuple[str, ...]]:
    """The record's INSERT and the row ``also`` refers to it by, in one statement: the record's values as bound
    parameters ``r_<column key>``, the row's as ``a_<column>``, the record's key cast to the type of the row's
    ``column`` (built once per class, values given and row)."""
    from sqlalchemy import bindparam, cast, insert, select

    cache_key = (mapper, given, table, also, column)
    found = _INSERTS_WITH.get(cache_key)
    if found is None:
        own = mapper.local_table
        generated = [(key, c) for key, c in _columns(mapper) if c.key not in given]
        new = insert(own).values({k: bindparam(f"r_{k}", type_=own.c[k].type) for k in given}).returning(
            *(c for _k, c in generated)).cte("crm_new")
        returned: dict[Any, Any] = {c: new.corresponding_column(c) for c in (*(c for _k, c in generated),
                                                                          mapper.primary_key[0])}
        key = returned[mapper.primary_key[0]]
        row = insert(table).from_select([*also, column], select(
            *(bindparam(f"a_{k}", type_=table.c[k].type) for k in also), cast(key, table.c[column].type)))
        statement = select(*(returned[c] for _k, c in generated)).add_cte(row.cte("crm_also"))
        found = _INSERTS_WITH[cache_key] = (statement, tuple(k for k, _c in generated))
    return found


_INSERTS_WITH: dict[tuple[Any, ...], tuple[Any, tuple[str, ...]]] = {}


def _insert_also(session: Session, also: Also, key: Any) -> None:
    """``also``'s row by its own INSERT, its column taking ``key`` (as text in a text column)."""
    from sqlalchemy import String, insert

    table, values, column = also
    value = str(key) if isinstance(table.c[column].type, String) else key
    session.connection().execute(insert(table).inline(), {**values, column: value})


def _columns(mapper: Any) -> tuple[tuple[str, Any], ...]:
    found: tuple[tuple[str, Any], ...] | None = mapper.__dict__.get("_crm_columns")
    if found is None:
        found = mapper._crm_columns = mapped_columns(mapper.class_)  # kept on the mapper: asked on every insert
    return found


def _plain_new(session: Session, state: Any) -> bool:
    from sqlalchemy.orm import RelationshipDirection

    mapper = state.mapper
    if not state.pending or len(session.new) != 1 or session.deleted or session.dirty:
        return False
    if mapper.inherits is not None or mapper.polymorphic_on is not None or len(mapper.tables) != 1 \
            or mapper.dispatch.before_insert or mapper.dispatch.after_insert:
        return False
    dispatch = session.dispatch
    for name in ("before_flush", "after_flush", "after_flush_postexec"):
        if not all(getattr(listener, FLUSH_CONTEXT_FREE, False) for listener in getattr(dispatch, name)):
            return False
    for rel in mapper.relationships:
        if rel.viewonly or rel.key not in state.dict:
            continue
        if rel.direction is RelationshipDirection.MANYTOONE or state.dict[rel.key]:
            return False  # a key to take from the related record, or rows to write for a collection
    return True


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
str40 = Annotated[str, 40]
str120 = Annotated[str, 120]
str255 = Annotated[str, 255]
money = Annotated[decimal.Decimal, mapped_column(Numeric(18, 2))]
created_ts = Annotated[dt.datetime, mapped_column(UTCDateTime, default=utcnow, nullable=False)]
updated_ts = Annotated[dt.datetime, mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)]


class Base(DeclarativeBase):
    """Declarative base for every table of the core, the plugins and the adapters."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        str40: String(40),
        str120: String(120),
        str255: String(255),
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
        list[str]: JSON,
        decimal.Decimal: Numeric(18, 2),
        int: Integer,
        "bigint": BigInteger,
    }


_PG_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction open on the server


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def may_write(context: Any) -> bool:
    """Whether a statement may write: anything but a compiled SELECT (plain SQL, DML, DDL, a savepoint), and a
    SELECT with an INSERT, UPDATE or DELETE in its WITH (``flush_new``'s record and audit entry)."""
    compiled = getattr(context, "compiled", None)
    statement = getattr(compiled, "statement", None)
    return statement is None or not getattr(statement, "is_select", False) \
        or context.isinsert or context.isupdate or context.isdelete \
        or any(getattr(cte.element, "is_dml", False) for cte in getattr(compiled, "ctes", None) or ())


def _reads_only(context: Any) -> bool:
    """Whether a statement is a plain read: one that cannot write, not ``FOR UPDATE``, on a client-side cursor."""
    return not may_write(context) and getattr(context.compiled.statement, "_for_update_arg", None) is None \
        and not getattr(context, "_is_server_side", False)


def _begin_before_writing(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                          executemany: bool) -> None:
    """PostgreSQL (psycopg, in autocommit): open the transaction just before its first statement that is not a
    plain read (a write, ``FOR UPDATE``, a savepoint, a server-side cursor, plain SQL), so a request that only
    reads sends no ``BEGIN`` and no ``ROLLBACK`` (two of a read's seven round trips), and whatever writes is one
    transaction as before. Reads before the first write see what READ COMMITTED shows them inside a transaction
    too: the last committed rows, each statement on its own snapshot."""
    if conn.dialect in _LAZY_BEGIN and not _reads_only(context):
        begin_now(conn)


def begin_now(conn: Any) -> None:
    """Open a lazily beginning connection's transaction now (a writer about to write by a DBAPI cursor of its own,
    which the engine's events do not see); nothing when it is open already or the engine begins as usual."""
    raw = conn.connection.dbapi_connection
    if conn.dialect in _LAZY_BEGIN and raw is not None and raw.autocommit \
            and raw.info.transaction_status == _PG_IDLE:
        raw.execute("BEGIN")


_LAZY_BEGIN: weakref.WeakSet[Any] = weakref.WeakSet()  # the dialects of the engines that begin lazily (a dialect
# stays its engine's when the pool is made again, and is shared by its execution_options copies)
# first of every engine's listeners before a statement: the change stamps' upsert (crmcore.services.stamps) runs
# before its statement, and must run in the statement's transaction
event.listen(Engine, "before_cursor_execute", _begin_before_writing, insert=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout, and its folder. PostgreSQL through
    psycopg opens a transaction only for what writes (:func:`_begin_before_writing`)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
    lazy = url.startswith("postgresql+psycopg:") and "isolation_level" not in kwargs
    if lazy:
        kwargs["isolation_level"] = "AUTOCOMMIT"
    engine = create_engine(url, **kwargs)
    if lazy:
        _LAZY_BEGIN.add(engine.dialect)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if ":memory:" not in url and path:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    return engine


class Database:
    """An engine and a scoped session; ``.session`` is what Flask-Admin and requests use."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.session = scoped_session(self.sessionmaker)
        from .columnsizes import check_sizes

        event.listen(self.sessionmaker, "before_flush", flush_context_free(check_sizes))  # it reads the session only

    def new_session(self) -> Session:
        """A fresh session not tied to the current request or thread."""
        return self.sessionmaker()

    def init_app(self, app: Any) -> None:
        """Remove the request's session when the app context ends."""
        app.teardown_appcontext(lambda exc: self.session.remove())

    def create_all(self) -> None:
        """Create every table known to the metadata, the core's all (tests and quick starts; prod uses Alembic)."""
        from .models import load_all

        load_all()
        Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.session.remove()
        self.engine.dispose()
