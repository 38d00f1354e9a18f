"""Database wiring: the declarative base, typed column aliases and the Database object."""
from __future__ import annotations

import datetime as dt
import decimal
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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout, and its folder."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
    engine = create_engine(url, **kwargs)
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

        event.listen(self.sessionmaker, "before_flush", check_sizes)

    def new_session(self) -> Session:
        """A fresh session not tied to the current request or thread."""
        return self.sessionmaker()

    def init_app(self, app: Any) -> None:
        """Remove the request's session when the app context ends."""
        app.teardown_appcontext(lambda exc: self.session.remove())

    def create_all(self) -> None:
        """Create every table known to the metadata (tests and quick starts; prod uses Alembic)."""
        Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.session.remove()
        self.engine.dispose()
