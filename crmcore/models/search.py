"""Search indexes kept by the database itself: FTS5 trigram tables + triggers (SQLite), pg_trgm and prefix indexes (PG)."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from .customer import Contact

log = logging.getLogger(__name__)

# SQLite: one external-content FTS5 table per searched table; the triggers keep it in step on every
# write (services, bulk imports, the ERP sync, merges, deletes, raw SQL), so no code path can forget it.
SQLITE_SEARCH_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS customers_fts USING fts5(search_text, email_normalized, "
    "content='customers', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS customers_fts_ai AFTER INSERT ON customers BEGIN "
    "INSERT INTO customers_fts(rowid, search_text, email_normalized) "
    "VALUES (new.id, new.search_text, new.email_normalized); END",
    "CREATE TRIGGER IF NOT EXISTS customers_fts_ad AFTER DELETE ON customers BEGIN "
    "INSERT INTO customers_fts(customers_fts, rowid, search_text, email_normalized) "
    "VALUES ('delete', old.id, old.search_text, old.email_normalized); END",
    "CREATE TRIGGER IF NOT EXISTS customers_fts_au AFTER UPDATE OF search_text, email_normalized ON customers BEGIN "
    "INSERT INTO customers_fts(customers_fts, rowid, search_text, email_normalized) "
    "VALUES ('delete', old.id, old.search_text, old.email_normalized); "
    "INSERT INTO customers_fts(rowid, search_text, email_normalized) "
    "VALUES (new.id, new.search_text, new.email_normalized); END",
    "CREATE VIRTUAL TABLE IF NOT EXISTS contacts_fts USING fts5(name, email_normalized, wechat, "
    "content='contacts', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS contacts_fts_ai AFTER INSERT ON contacts BEGIN "
    "INSERT INTO contacts_fts(rowid, name, email_normalized, wechat) "
    "VALUES (new.id, new.name, new.email_normalized, new.wechat); END",
    "CREATE TRIGGER IF NOT EXISTS contacts_fts_ad AFTER DELETE ON contacts BEGIN "
    "INSERT INTO contacts_fts(contacts_fts, rowid, name, email_normalized, wechat) "
    "VALUES ('delete', old.id, old.name, old.email_normalized, old.wechat); END",
    "CREATE TRIGGER IF NOT EXISTS contacts_fts_au AFTER UPDATE OF name, email_normalized, wechat ON contacts BEGIN "
    "INSERT INTO contacts_fts(contacts_fts, rowid, name, email_normalized, wechat) "
    "VALUES ('delete', old.id, old.name, old.email_normalized, old.wechat); "
    "INSERT INTO contacts_fts(rowid, name, email_normalized, wechat) "
    "VALUES (new.id, new.name, new.email_normalized, new.wechat); END",
)
SQLITE_SEARCH_DROP = (
    "DROP TRIGGER IF EXISTS customers_fts_ai", "DROP TRIGGER IF EXISTS customers_fts_ad",
    "DROP TRIGGER IF EXISTS customers_fts_au", "DROP TABLE IF EXISTS customers_fts",
    "DROP TRIGGER IF EXISTS contacts_fts_ai", "DROP TRIGGER IF EXISTS contacts_fts_ad",
    "DROP TRIGGER IF EXISTS contacts_fts_au", "DROP TABLE IF EXISTS contacts_fts",
)

TRGM_MISSING = ("PostgreSQL: the pg_trgm extension is not installed and this database role may not create it; "
                "search works without its text index, but scans every row. Ask the database owner to run "
                "CREATE EXTENSION pg_trgm; in this database, then run 'crm init-db' again.")


def has_trgm(conn: Connection) -> bool:
    """Whether the pg_trgm extension is installed in this PostgreSQL database."""
    return bool(conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar())


def ensure_trgm(conn: Connection) -> bool:
    """Create pg_trgm when the role may (in a savepoint); False with a clear warning when it may not."""
    if has_trgm(conn):
        return True
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        return True
    except Exception as exc:  # noqa: BLE001 - a permission or availability error; the search still works
        log.warning("%s (%s)", TRGM_MISSING, type(exc).__name__)
        return False


# PostgreSQL: GIN trigram indexes for substring search, pattern-ops B-trees for prefixes of E.164 numbers
# and e-mails; the database keeps them in step on every write. Declared here, created by the migration.
PG_TEXT_INDEXES = (
    ("ix_customers_search_trgm", "customers", "search_text gin_trgm_ops"),
    ("ix_customers_email_trgm", "customers", "email_normalized gin_trgm_ops"),
    ("ix_contacts_name_trgm", "contacts", "lower(name) gin_trgm_ops"),
    ("ix_contacts_email_trgm", "contacts", "email_normalized gin_trgm_ops"),
    ("ix_contacts_wechat_trgm", "contacts", "lower(wechat) gin_trgm_ops"),
)
PG_PREFIX_INDEXES = (
    ("ix_customers_phone_prefix", "customers", "phone_normalized varchar_pattern_ops"),
    ("ix_customers_email_prefix", "customers", "email_normalized varchar_pattern_ops"),
    ("ix_contacts_phone_prefix", "contacts", "phone_normalized varchar_pattern_ops"),
    ("ix_contacts_mobile_prefix", "contacts", "mobile_normalized varchar_pattern_ops"),
    ("ix_contacts_email_prefix", "contacts", "email_normalized varchar_pattern_ops"),
)


def create_search_indexes(conn: Connection) -> None:
    """Create the search indexes of this database's engine (idempotent)."""
    if conn.dialect.name == "sqlite":
        for stmt in SQLITE_SEARCH_DDL:
            conn.exec_driver_sql(stmt)
        return
    if conn.dialect.name != "postgresql":
        return
    for name, table, expr in PG_PREFIX_INDEXES:
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({expr})")
    if ensure_trgm(conn):
        for name, table, expr in PG_TEXT_INDEXES:
            conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expr})")


def drop_search_indexes(conn: Connection) -> None:
    """Drop what ``create_search_indexes`` made (the pg_trgm extension stays: others may use it)."""
    if conn.dialect.name == "sqlite":
        for stmt in SQLITE_SEARCH_DROP:
            conn.exec_driver_sql(stmt)
    elif conn.dialect.name == "postgresql":
        for name, _table, _expr in PG_TEXT_INDEXES + PG_PREFIX_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


# A database built from the models (tests, quick starts) gets the same indexes as a migrated one.
# Contacts are created after customers (their foreign key), so both tables exist by then.
@event.listens_for(Contact.__table__, "after_create")
def _after_create(target: Any, connection: Connection, **kw: Any) -> None:
    drop_search_indexes(connection)  # a table created just now is empty: so is its index
    create_search_indexes(connection)


