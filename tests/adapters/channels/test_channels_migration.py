"""The channels branch's migrations: the channel accounts' version (optimistic locking) comes with the branch,
matches the models, keeps existing accounts (version 1) and reverses."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from crmcore import migrate
from crmcore.db import Base
from crmcore.runtime import build_runtime


def _columns(rt) -> set[str]:
    return {c["name"] for c in sa.inspect(rt.db.engine).get_columns("channel_accounts")}


def test_account_version_migrates_up_and_down(empty_database_url, tmp_path):
    rt = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False,
                        "PLUGINS": ["adapters.channels"]})
    cfg = migrate.alembic_config(rt)
    command.upgrade(cfg, "0001_channels")
    assert "version" not in _columns(rt)
    with rt.db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO channel_accounts (platform, account, name, enabled, open_tickets, config, "
                             "secrets, updated_at) VALUES ('wechat', 'wxOLD', '旧账号', true, false, '{}', '{}', "
                             "CURRENT_TIMESTAMP)"))
    migrate.upgrade(rt)
    assert "0002_channels_account_version" in migrate.current_heads(rt)
    with rt.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM channel_accounts WHERE account = 'wxOLD'")).scalar() == 1
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert not [d for d in diffs if "channel_accounts" in repr(d)]
    command.downgrade(cfg, "0001_channels")
    assert "version" not in _columns(rt)
    rt.db.dispose()
