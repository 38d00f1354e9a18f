"""The OA tables belong to the ``oa`` migration branch: a new database gets them from it, and a
database made by the core's migrations before issue 14 (which created them) keeps them and their
rows, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import crmcore.db
from adapters.oa.models import MODELS
from crmcore import migrate
from crmcore.db import Base
from crmcore.runtime import build_runtime

OA_TABLES = {m.__tablename__ for m in MODELS}




def _legacy_tables() -> sa.MetaData:
    """The OA tables exactly as the core's 0002_core_workflow created them until issue 14."""
    md = sa.MetaData()
    ts = crmcore.db.UTCDateTime(timezone=True)
    sa.Table("oa_callbacks", md, sa.Column("id", sa.Integer(), primary_key=True),
             sa.Column("provider", sa.String(32), nullable=False),
             sa.Column("dedupe_key", sa.String(200), nullable=False),
             sa.Column("external_id", sa.String(128)), sa.Column("event_type", sa.String(64)),
             sa.Column("payload", sa.JSON(), nullable=False), sa.Column("status", sa.String(16), nullable=False),
             sa.Column("attempts", sa.Integer(), nullable=False), sa.Column("error", sa.Text()),
             sa.Column("received_at", ts, nullable=False), sa.Column("processed_at", ts),
             sa.PrimaryKeyConstraint("id", name="pk_oa_callbacks"),
             sa.UniqueConstraint("dedupe_key", name="uq_oa_callbacks_dedupe_key"),
             sa.Index("ix_oa_callbacks_status", "status"))
    sa.Table("oa_nonces", md, sa.Column("id", sa.Integer()), sa.Column("provider", sa.String(32), nullable=False),
             sa.Column("nonce", sa.String(128), nullable=False), sa.Column("seen_at", ts, nullable=False),
             sa.PrimaryKeyConstraint("id", name="pk_oa_nonces"),
             sa.UniqueConstraint("provider", "nonce", name="uq_oa_nonces_nonce"),
             sa.Index("ix_oa_nonces_seen_at", "seen_at"))
    sa.Table("oa_provider_settings", md, sa.Column("id", sa.Integer()),
             sa.Column("provider", sa.String(32), nullable=False), sa.Column("enabled", sa.Boolean(), nullable=False),
             sa.Column("config", sa.JSON(), nullable=False), sa.Column("secrets", sa.JSON(), nullable=False),
             sa.Column("updated_at", ts, nullable=False),
             sa.PrimaryKeyConstraint("id", name="pk_oa_provider_settings"),
             sa.UniqueConstraint("provider", name="uq_oa_provider_settings_provider"))
    return md


def _oa_diffs(rt) -> list:
    with rt.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    return [d for d in diffs if OA_TABLES & {getattr(p, "name", None) if not hasattr(p, "table") else p.table.name
                                             for p in (d[0] if isinstance(d, list) else d)[1:]}]


def _runtime(url, tmp_path, **settings):
    return build_runtime({"DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False, **settings})


def test_core_migrations_no_longer_create_the_oa_tables(empty_database_url, tmp_path):
    rt = _runtime(empty_database_url, tmp_path)
    migrate.upgrade(rt)
    assert OA_TABLES.isdisjoint(sa.inspect(rt.db.engine).get_table_names())
    rt.db.dispose()
    rt = _runtime(empty_database_url, tmp_path, PLUGINS=["adapters.oa"])
    migrate.upgrade(rt)  # the oa adapter enabled later: its branch creates them
    assert OA_TABLES <= set(sa.inspect(rt.db.engine).get_table_names())
    assert "0001_oa" in migrate.current_heads(rt)
    assert _oa_diffs(rt) == []
    rt.db.dispose()


def test_a_database_made_before_keeps_its_oa_rows(empty_database_url, tmp_path):
    rt = _runtime(empty_database_url, tmp_path)
    migrate.upgrade(rt)  # the core's revisions ...
    legacy = _legacy_tables()
    legacy.create_all(rt.db.engine)  # ... with the OA tables they created until issue 14
    now = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone.utc)
    with rt.db.engine.begin() as conn:
        conn.execute(legacy.tables["oa_callbacks"].insert(), [
            {"provider": "webhook", "dedupe_key": "webhook:AP-1:approved", "external_id": "AP-1",
             "event_type": "approval.status", "payload": {"status": "approved"}, "status": "failed", "attempts": 2,
             "error": "boom", "received_at": now}])
        conn.execute(legacy.tables["oa_nonces"].insert(), [{"provider": "webhook", "nonce": "n-1", "seen_at": now}])
        conn.execute(legacy.tables["oa_provider_settings"].insert(), [
            {"provider": "webhook", "enabled": True, "config": {"base_url": "https://oa.example"},
             "secrets": {"secret": "s3"}, "updated_at": now}])
    rt.db.dispose()

    rt = _runtime(empty_database_url, tmp_path, PLUGINS=["adapters.oa"])
    migrate.upgrade(rt)
    assert "0001_oa" in migrate.current_heads(rt)
    assert _oa_diffs(rt) == []
    from adapters.oa.models import OACallback, OANonce, OAProviderSetting

    with rt.db.new_session() as session:
        callback = session.query(OACallback).one()
        assert (callback.dedupe_key, callback.payload, callback.status, callback.attempts, callback.error) == \
            ("webhook:AP-1:approved", {"status": "approved"}, "failed", 2, "boom")
        assert callback.received_at == now
        assert [(n.provider, n.nonce) for n in session.query(OANonce)] == [("webhook", "n-1")]
        setting = session.query(OAProviderSetting).one()
        assert (setting.config, setting.secrets) == ({"base_url": "https://oa.example"}, {"secret": "s3"})
        # the constraints came along: a repeated dedupe key is still refused
        session.add(OACallback(provider="webhook", dedupe_key="webhook:AP-1:approved", payload={}))
        with pytest.raises(sa.exc.IntegrityError):
            session.flush()
        session.rollback()
    migrate.upgrade(rt)  # again: nothing to do
    rt.db.dispose()
