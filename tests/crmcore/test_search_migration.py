"""Migration 0005_core_search: up indexes the customers already there, down removes every index it made,
up again restores them; on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import uuid

from alembic import command
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from crmcore import migrate
from crmcore.runtime import build_runtime
from crmcore.services import customers as svc




OURS = {"ix_customers_name_id", "ix_customers_phone_prefix", "ix_customers_email_prefix", "ix_customers_search_trgm",
        "ix_customers_email_trgm", "ix_contacts_name_trgm", "ix_contacts_email_trgm", "ix_contacts_wechat_trgm",
        "ix_contacts_phone_prefix", "ix_contacts_mobile_prefix", "ix_contacts_email_prefix"}


def _search_objects(engine):
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' OR "
                                         "name IN ('customers_fts', 'contacts_fts')")).scalars())
        names = {ix["name"] for t in ("customers", "contacts") for ix in inspect(conn).get_indexes(t)}
        return names & OURS


def test_upgrade_downgrade_upgrade(empty_database_url, tmp_path):
    rt = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False})
    migrate.upgrade(rt, "0004_core_conditions")
    ctx = rt.context(source="test")
    svc.create_customer(ctx, {"name": "张三商贸有限公司", "code": "ZS1"})
    ctx.session.close()
    assert _search_objects(rt.db.engine) == set()

    migrate.upgrade(rt, "0005_core_search")
    made = _search_objects(rt.db.engine)
    if rt.db.engine.dialect.name == "sqlite":
        assert made == {"customers_fts", "contacts_fts", "customers_fts_ai", "customers_fts_ad", "customers_fts_au",
                        "contacts_fts_ai", "contacts_fts_ad", "contacts_fts_au"}
    else:
        assert made == OURS
    ctx = rt.context(source="test")
    assert [c.code for c in svc.list_customers(ctx, q="zhangsan")[0]] == ["ZS1"]  # indexed by the upgrade
    ctx.session.close()

    command.downgrade(migrate.alembic_config(rt), "0004_core_conditions")
    assert _search_objects(rt.db.engine) == set()
    migrate.upgrade(rt, "0005_core_search")
    assert _search_objects(rt.db.engine) == made
    ctx = rt.context(source="test")
    assert [c.code for c in svc.list_customers(ctx, q="shangmao")[0]] == ["ZS1"]
    ctx.session.close()
    rt.db.dispose()


def test_role_that_may_not_create_pg_trgm_gets_a_clear_warning_and_a_working_search(empty_database_url, tmp_path,
                                                                                    caplog):
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite's FTS5 needs no extension")
    url = make_url(empty_database_url)
    admin = create_engine(os.environ["CRM_TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    role = f"crm_plain_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'REVOKE CREATE ON DATABASE "{url.database}" FROM PUBLIC'))
    owner = create_engine(url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f'GRANT ALL ON SCHEMA public TO "{role}"'))
    owner.dispose()
    try:
        limited = url.set(username=role).render_as_string(hide_password=False)
        rt = build_runtime({"DATABASE_URL": limited, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False})
        with caplog.at_level("WARNING"):
            migrate.upgrade(rt, "0005_core_search")
        assert "CREATE EXTENSION pg_trgm" in caplog.text and "scans every row" in caplog.text
        assert _search_objects(rt.db.engine) == OURS - {"ix_customers_search_trgm", "ix_customers_email_trgm",
                                                        "ix_contacts_name_trgm", "ix_contacts_email_trgm",
                                                        "ix_contacts_wechat_trgm"}
        ctx = rt.context(source="test")
        svc.create_customer(ctx, {"name": "张三商贸有限公司", "code": "ZS1"})
        assert [c.code for c in svc.list_customers(ctx, q="zhangsan")[0]] == ["ZS1"]
        ctx.session.close()
        rt.db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
