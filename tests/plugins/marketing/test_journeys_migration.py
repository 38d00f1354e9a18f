"""Migration 0003_marketing_journeys: builds exactly the journeys' tables and columns the models declare, on
SQLite and PostgreSQL, and reverses (a one-off campaign's recipients unique per campaign and customer again)."""
from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from crmcore import migrate
from crmcore.db import Base
from crmcore.runtime import build_runtime
from plugins.marketing import models  # noqa: F401 - the marketing tables on the metadata
from plugins.sales import models as sales_models  # noqa: F401

JOURNEY_TABLES = {"marketing_journeys", "marketing_journey_steps", "marketing_journey_branches",
                  "marketing_enrolments", "marketing_step_log", "marketing_calendar_dates"}
TOUCHED = JOURNEY_TABLES | {"marketing_campaigns", "marketing_recipients"}


def _table(diff: Any) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = part.table.name if hasattr(part, "table") and part.table is not None else getattr(part, "name", None)
        if isinstance(part, str) and part in TOUCHED:
            return part
        if name:
            return name
    return None


def test_the_journeys_migration_matches_the_models_and_reverses(empty_database_url: str, tmp_path: Any) -> None:
    rt = build_runtime({"DATABASE_URL": empty_database_url, "INSTANCE_PATH": str(tmp_path), "PLUGINS_AUTOLOAD": False,
                        "PLUGINS": ["plugins.sales", "plugins.marketing"]})
    migrate.upgrade(rt)
    assert "0004_marketing_consent" in migrate.current_heads(rt)  # the consent migration follows this one
    with rt.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diffs if _table(d) in TOUCHED] == []
    command.downgrade(migrate.alembic_config(rt), "0002_marketing_ab_tests")
    names = set(inspect(rt.db.engine).get_table_names())
    assert not names & JOURNEY_TABLES
    columns = {c["name"] for c in inspect(rt.db.engine).get_columns("marketing_recipients")}
    assert "touch" not in columns
    uniques = inspect(rt.db.engine).get_unique_constraints("marketing_recipients")
    assert [sorted(u["column_names"]) for u in uniques] == [["campaign_id", "customer_id"]]
    migrate.upgrade(rt)
    assert JOURNEY_TABLES <= set(inspect(rt.db.engine).get_table_names())
    rt.db.dispose()
