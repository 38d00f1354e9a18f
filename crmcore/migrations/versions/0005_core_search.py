"""core search: text indexes for customer and contact search (FTS5 trigram tables kept in step by
triggers on SQLite; pg_trgm GIN and pattern-ops prefix indexes on PostgreSQL) and the name/id index the
lists page through by keyset (customers by name, interactions by time)

Revision ID: 0005_core_search
Revises: 0004_core_conditions
Create Date: 2026-12-06 09:10:00
"""
import logging
from typing import Any

from alembic import op
from sqlalchemy import text

revision = '0005_core_search'
down_revision = '0004_core_conditions'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# the same statements as crmcore.models.search (a migration keeps its own copy: it must not change later)
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


TRGM_MISSING = ("PostgreSQL: the pg_trgm extension is not installed and this database role may not create it; "
                "search works without its text index, but scans every row. Ask the database owner to run "
                "CREATE EXTENSION pg_trgm; in this database, then run 'crm init-db' again.")


def _trgm(conn: Any) -> bool:
    if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar():
        return True
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        return True
    except Exception as exc:  # noqa: BLE001 - no right to create it: the search still works, without the index
        log.warning("%s (%s)", TRGM_MISSING, type(exc).__name__)
        return False


def upgrade() -> None:
    conn = op.get_bind()
    op.create_index("ix_customers_name_id", "customers", ["name", "id"])
    op.create_index("ix_interactions_time_id", "interactions", ["occurred_at", "id"])
    if conn.dialect.name == "sqlite":
        for stmt in SQLITE_SEARCH_DDL:
            conn.exec_driver_sql(stmt)
        conn.exec_driver_sql("INSERT INTO customers_fts(customers_fts) VALUES ('rebuild')")
        conn.exec_driver_sql("INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild')")
    elif conn.dialect.name == "postgresql":
        for name, table, expr in PG_PREFIX_INDEXES:
            conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({expr})")
        if _trgm(conn):
            for name, table, expr in PG_TEXT_INDEXES:
                conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expr})")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for stmt in SQLITE_SEARCH_DROP:
            conn.exec_driver_sql(stmt)
    elif conn.dialect.name == "postgresql":
        for name, _table, _expr in PG_TEXT_INDEXES + PG_PREFIX_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_interactions_time_id", "interactions")
    op.drop_index("ix_customers_name_id", "customers")
