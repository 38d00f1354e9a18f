"""``crm init-db`` with ``CRM_JOBS_BACKEND=procrastinate`` creates the engine's tables, then on every upgrade applies
the engine's migrations not yet applied, once each (PostgreSQL only: the engine needs it)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from crmcore import migrate
from crmcore.runtime import build_runtime
from crmcore.services import jobs_procrastinate as engine_schema

NEW = "99.00.00_01_pre_add_crm_test_marker.sql"  # a later release's migration: not re-runnable on purpose


@pytest.fixture
def pg_runtime(empty_database_url: str, tmp_path: Path) -> Any:
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (CRM_TEST_DATABASE_URL)")
    rt = build_runtime({"DATABASE_URL": empty_database_url, "JOBS_BACKEND": "procrastinate", "PLUGINS_AUTOLOAD": False,
                        "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    migrate.upgrade(rt)
    yield rt
    if rt.__dict__.get(engine_schema._OPEN):
        engine_schema.engine(rt).close()
    rt.db.dispose()


def _with_new_migration(tmp_path: Path) -> str:
    folder = tmp_path / "migrations"
    shutil.copytree(Path(engine_schema.migration_files()[0]).parent, folder, ignore=shutil.ignore_patterns("*.py", "__*"))
    (folder / NEW).write_text("CREATE TABLE crm_test_marker (id integer);\nINSERT INTO crm_test_marker VALUES (1);\n")
    return str(folder)


def _markers(rt: Any) -> int:
    with rt.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM crm_test_marker")).scalar_one())


def test_a_new_database_gets_the_tables_and_every_migration_recorded(pg_runtime):
    created, applied = engine_schema.upgrade_schema(pg_runtime)
    assert created and applied == []  # schema.sql has them all
    with pg_runtime.db.engine.connect() as conn:
        assert inspect(conn).has_table("procrastinate_jobs")
        recorded = set(conn.execute(text("SELECT name FROM crm_procrastinate_migrations")).scalars())
    assert recorded == {p.name for p in engine_schema.migration_files()}
    assert engine_schema.upgrade_schema(pg_runtime) == (False, [])


def test_an_upgrade_applies_a_new_migration_once(pg_runtime, tmp_path):
    engine_schema.upgrade_schema(pg_runtime)
    folder = _with_new_migration(tmp_path)
    assert engine_schema.upgrade_schema(pg_runtime, folder) == (False, [NEW])
    assert engine_schema.upgrade_schema(pg_runtime, folder) == (False, [])  # again: nothing (it would fail if run)
    assert _markers(pg_runtime) == 1


def test_a_database_from_before_the_tracking_gets_only_the_later_migrations(pg_runtime, tmp_path):
    """Tables made by an earlier ``crm init-db`` (procrastinate 3.10.0's schema.sql, nothing recorded): the
    migrations up to 3.10.0 are in it already; only later ones run."""
    engine_schema.upgrade_schema(pg_runtime)
    with pg_runtime.db.engine.begin() as conn:
        conn.execute(text("DROP TABLE crm_procrastinate_migrations"))
    assert engine_schema.upgrade_schema(pg_runtime, _with_new_migration(tmp_path)) == (False, [NEW])
    assert _markers(pg_runtime) == 1


# `crm init-db` in a process of its own, the engine's migrations read from the folder given as first argument
INIT_DB = ("import sys\n"
           "from crmcore.services import jobs_procrastinate as engine\n"
           "real, folder = engine.migration_files, sys.argv.pop(1)\n"
           "engine.migration_files = lambda migrations=None: real(migrations or folder)\n"
           "sys.argv = ['crm', 'init-db']\n"
           "from crmcore.cli import main\n"
           "main()\n")


def test_crm_init_db_applies_the_engines_migrations(pg_runtime, tmp_path):
    engine_schema.upgrade_schema(pg_runtime)
    folder = _with_new_migration(tmp_path)
    env = {**os.environ, "CRM_DATABASE_URL": pg_runtime.settings["DATABASE_URL"], "CRM_JOBS_BACKEND": "procrastinate",
           "CRM_INSTANCE_PATH": str(tmp_path), "CRM_PLUGINS_AUTOLOAD": "0", "CRM_SECRET_KEY": "x"}
    for key in ("CRM_PLUGINS_DISABLED", "CRM_PLUGINS_ALLOW", "CRM_PLUGINS", "CRM_CONFIG"):
        env.pop(key, None)
    first = subprocess.run([sys.executable, "-c", INIT_DB, folder], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert NEW in first.stdout
    again = subprocess.run([sys.executable, "-c", INIT_DB, folder], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert NEW not in again.stdout
    assert _markers(pg_runtime) == 1
