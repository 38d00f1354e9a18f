"""Alembic wiring: the core's revisions plus every plugin's, migrated to all heads."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(rt: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    locations = [str(MIGRATIONS / "versions")] + [str(p) for p in rt.registry.migrations]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = rt.db.engine
    return cfg


def upgrade(rt: Any, revision: str = "heads") -> None:
    """Bring the database schema to ``revision`` (all heads: core and plugins), and give the change stamps of the
    installed plugins their rows."""
    command.upgrade(alembic_config(rt), revision)
    from .models.custom_field import ChangeStamp, seed_stamps

    with rt.db.engine.begin() as conn:
        if conn.dialect.has_table(conn, ChangeStamp.__tablename__):
            seed_stamps(conn)


def current_heads(rt: Any) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with rt.db.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())
