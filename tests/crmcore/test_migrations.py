"""Alembic: the core's revisions build exactly the schema the models declare, on SQLite and PostgreSQL."""
from __future__ import annotations


from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from crmcore import migrate
from crmcore.db import Base
from crmcore.models import load_all, search
from crmcore.runtime import build_runtime

load_all()  # the core's tables on Base.metadata

CORE_TABLES = {t.name for t in Base.metadata.sorted_tables if t.name in {
    "customers", "contacts", "addresses", "tags", "customer_tags", "interactions", "custom_fields", "users", "roles",
    "teams", "api_tokens", "audit_log", "external_refs", "sync_state", "outbox", "job_runs", "rate_limit_hits",
    "login_failures", "outbox_destinations", "job_executions"}}




def test_upgrade_builds_the_models_schema(empty_database_url, tmp_path):
    assert CORE_TABLES == {"customers", "contacts", "addresses", "tags", "customer_tags", "interactions",
                           "custom_fields", "users", "roles", "teams", "api_tokens", "audit_log", "external_refs",
                           "sync_state", "outbox", "job_runs", "rate_limit_hits", "login_failures",
                           "outbox_destinations", "job_executions"}
    rt = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False})
    migrate.upgrade(rt)
    assert "0001_core" in migrate.current_heads(rt) or migrate.current_heads(rt)
    with rt.db.engine.connect() as conn:
        # the search indexes are DDL of crmcore.models.search, not of the metadata: test_search_migration checks them
        raw = {name for name, _t, _e in search.PG_TEXT_INDEXES + search.PG_PREFIX_INDEXES}
        opts = {"compare_type": True, "include_name": lambda name, kind, parent: not (kind == "index" and name in raw)}
        diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)

    def table_of(diff):
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:
            name = getattr(part, "name", None) if not hasattr(part, "table") else part.table.name
            if name:
                return name
        return None

    core_diffs = [d for d in diffs if table_of(d) in CORE_TABLES]
    assert core_diffs == []
    # running it again is a no-op
    migrate.upgrade(rt)
    rt.db.dispose()


def test_init_db_cli_creates_schema_and_roles(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from crmcore import cli as cli_mod

    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("CRM_DATABASE_URL", url)
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CRM_PLUGINS_AUTOLOAD", "0")
    monkeypatch.setattr(cli_mod, "_runtime", {})
    result = CliRunner().invoke(cli_mod.cli, ["init-db"])
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output
    engine = create_engine(url)
    with engine.connect() as conn:
        roles = set(conn.execute(text("SELECT name FROM roles")).scalars())
    assert roles == {"admin", "manager", "sales", "service", "analyst"}
    engine.dispose()
    cli_mod._runtime.clear()


def test_outbox_migration_keeps_existing_messages_and_reverses(empty_database_url, tmp_path):
    """0006_core_outbox adds the claim columns, the destination index and table to a database with
    messages in it: they are kept (unclaimed), and a downgrade removes only what it added."""
    from alembic import command

    rt = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False})
    migrate.upgrade(rt, "0004_core_conditions")
    with rt.db.engine.begin() as conn:
        conn.execute(text("INSERT INTO outbox (event_id, topic, destination, payload, idempotency_key, status, attempts, "
                          "next_attempt_at, created_at) VALUES ('e1', 'customer.created', 'erp', '{}', 'e1:erp', "
                          "'pending', 2, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
    migrate.upgrade(rt, "0006_core_outbox")
    with rt.db.engine.connect() as conn:
        row = conn.execute(text("SELECT idempotency_key, status, attempts, claimed_by, claimed_until FROM outbox")).one()
        assert tuple(row) == ("e1:erp", "pending", 2, None, None)
        assert conn.execute(text("SELECT count(*) FROM outbox_destinations")).scalar() == 0
        from sqlalchemy import inspect

        assert "ix_outbox_destination_due" in {ix["name"] for ix in inspect(conn).get_indexes("outbox")}
    command.downgrade(migrate.alembic_config(rt), "0004_core_conditions")
    with rt.db.engine.connect() as conn:
        from sqlalchemy import inspect

        insp = inspect(conn)
        assert "outbox_destinations" not in insp.get_table_names()
        assert {c["name"] for c in insp.get_columns("outbox")} >= {"idempotency_key", "attempts"}
        assert "claimed_by" not in {c["name"] for c in insp.get_columns("outbox")}
        assert conn.execute(text("SELECT idempotency_key, attempts FROM outbox")).one() == ("e1:erp", 2)
    rt.db.dispose()


def test_every_builtin_plugin_migrates_on_this_engine(empty_database_url, tmp_path):
    """`crm init-db` with the built-in plugins: every branch reaches its head, whatever the length of its
    revision ids (Alembic's own version table holds 32 characters; ours is widened first)."""
    rt = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False,
                        "PLUGINS": ["plugins.sales", "plugins.service", "plugins.analysis", "adapters.erp",
                                    "adapters.oa"]})
    migrate.upgrade(rt)
    heads = migrate.current_heads(rt)
    assert "0003_analysis_tag_rule_conditions" in heads, heads
    assert any("_core_" in h for h in heads) and len(heads) >= 6, heads
    migrate.upgrade(rt)  # again: nothing to do
    rt.db.dispose()
