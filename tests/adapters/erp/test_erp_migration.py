"""The ERP plugin's own Alembic branch builds exactly the tables its models declare."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from adapters.erp.models import MODELS
from crmcore import migrate
from crmcore.db import Base
from crmcore.runtime import build_runtime


def test_erp_branch_builds_its_tables(tmp_path):
    rt = build_runtime({"DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite'}", "INSTANCE_PATH": str(tmp_path),
                        "PLUGINS_AUTOLOAD": False, "PLUGINS": ["adapters.erp"]})
    migrate.upgrade(rt)
    assert "0002_erp" in migrate.current_heads(rt)
    ours = {m.__tablename__ for m in MODELS}
    with rt.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    mine = [d for d in diffs if any(getattr(p, "name", None) in ours or getattr(getattr(p, "table", None), "name", None)
                                    in ours for p in (d if isinstance(d, tuple) else d[0])[1:])]
    assert mine == []
    with rt.db.engine.connect() as conn:
        names = set(conn.dialect.get_table_names(conn))
    assert ours <= names
    rt.db.dispose()
