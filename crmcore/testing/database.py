"""The test database: SQLite in a temporary folder, or PostgreSQL named by ``CRM_TEST_DATABASE_URL``."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import close_all_sessions

from ..db import Base, Database

ENV = "CRM_TEST_DATABASE_URL"


def test_database_url(folder: Path) -> str:
    """``CRM_TEST_DATABASE_URL`` if set, else a SQLite file in ``folder``."""
    return os.environ.get(ENV) or f"sqlite:///{folder / 'test.sqlite'}"


test_database_url.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name


@contextmanager
def empty_database(folder: Path, prefix: str = "crm_empty") -> Iterator[str]:
    """The URL of a new, empty database for the block (migrations start from nothing there): a SQLite
    file in ``folder``, or a database of its own on the ``CRM_TEST_DATABASE_URL`` server, dropped after."""
    base = os.environ.get(ENV)
    if not base:
        yield f"sqlite:///{folder / (prefix + '.sqlite')}"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def open_test_database(url: str) -> Database:
    """A database with every table of the models imported so far, created from nothing (on PostgreSQL
    the public schema is dropped first, with tables of plugins this run did not import)."""
    db = Database(url)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    from ..models import load_all

    load_all()
    Base.metadata.drop_all(db.engine)
    Base.metadata.create_all(db.engine)
    return db


def wipe(db: Database) -> None:
    """Empty every table (plugins' too) so each test starts from nothing."""
    db.session.remove()
    # a test may keep a session of its own open (a context whose scoped session a request removed,
    # ``ctx.fresh()``): end them all, or on PostgreSQL their open transaction blocks the TRUNCATE
    close_all_sessions()
    with db.engine.begin() as conn:
        tables = [t for t in reversed(Base.metadata.sorted_tables) if conn.dialect.has_table(conn, t.name)]
        if conn.dialect.name == "postgresql":
            if tables:
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for t in tables:
                conn.execute(t.delete())
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        from ..models.custom_field import ChangeStamp, seed_stamps
        from ..services.stamps import forget_kept

        if any(t is ChangeStamp.__table__ for t in tables):
            seed_stamps(conn)  # the rows a new database has
        forget_kept()  # what this process kept of the database before
