"""Alembic: the core's revisions build exactly the schema the models declare, on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from crmcore import migrate
from crmcore import models  # noqa: F401 - registers the core's tables on Base.metadata
from crmcore.db import Base
from crmcore.runtime import build_runtime

CORE_TABLES = {t.name for t in Base.metadata.sorted_tables if t.name in {
    "customers", "contacts", "addresses", "tags", "customer_tags", "interactions", "custom_fields", "users", "roles",
    "teams", "api_tokens", "audit_log", "external_refs", "sync_state", "outbox", "job_runs", "rate_limit_hits",
    "login_failures"}}


@pytest.fixture
def empty_database_url(tmp_path):
    base = os.environ.get("CRM_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'migrate.sqlite'}"
        return
    name = f"crm_migrate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_builds_the_models_schema(empty_database_url, tmp_path):
    assert CORE_TABLES == {"customers", "contacts", "addresses", "tags", "customer_tags", "interactions",
                           "custom_fields", "users", "roles", "teams", "api_tokens", "audit_log", "external_refs",
                           "sync_state", "outbox", "job_runs", "rate_limit_hits", "login_failures"}
    rt = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False})
    migrate.upgrade(rt)
    assert "0001_core" in migrate.current_heads(rt) or migrate.current_heads(rt)
    with rt.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)

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
