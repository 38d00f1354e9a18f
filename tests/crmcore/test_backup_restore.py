"""docs/deployment.md's backup and restore commands, run as written: a SQLite and a PostgreSQL database are
backed up, changed, restored, and hold exactly what they held at the backup (schema still at head)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DOC = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text(encoding="utf-8")

SQLITE_BACKUP = """python3 -c "import sqlite3; sqlite3.connect('instance/crm.sqlite').execute(\\"VACUUM INTO 'crm-backup.sqlite'\\")\""""
SQLITE_RESTORE = "cp crm-backup.sqlite instance/crm.sqlite && rm -f instance/crm.sqlite-wal instance/crm.sqlite-shm"
PG_BACKUP = 'pg_dump --format=custom --no-owner --file=crm.dump "$PGURL"'
PG_RESTORE = 'pg_restore --clean --if-exists --no-owner --dbname="$PGURL" crm.dump'


def _sh(command: str, cwd: Path, **env: str) -> None:
    """Run a documented command in a shell; ``python3`` is this interpreter, the PostgreSQL tools those
    of the installed server when they are not on PATH."""
    path = os.environ.get("PATH", "")
    pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if pg_bin and not shutil.which("pg_dump"):
        path = f"{pg_bin[-1]}:{path}"
    command = command.replace("python3 -c", f"{sys.executable} -c")
    subprocess.run(["bash", "-c", command], cwd=cwd, check=True, env={**os.environ, "PATH": path, **env})


def _crm(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    crm = Path(sys.executable).with_name("crm")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    return subprocess.run([str(crm), *args], cwd=cwd, capture_output=True, text=True,
                          env={**clean, "CRM_PLUGINS_AUTOLOAD": "0", "CRM_SECRET_KEY": "x" * 8 + uuid.uuid4().hex, **env})


def _names(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT name FROM customers ORDER BY name")))
    finally:
        engine.dispose()


def _add_customer(url: str, name: str) -> None:
    from crmcore.runtime import build_runtime
    from crmcore.services import customers

    rt = build_runtime({"DATABASE_URL": url, "PLUGINS_AUTOLOAD": False})
    try:
        customers.create_customer(rt.context(source="test"), {"name": name})
    finally:
        rt.db.session.remove()
        rt.db.dispose()


def test_the_documented_commands_are_the_tested_ones():
    for command in (SQLITE_BACKUP, SQLITE_RESTORE, PG_BACKUP, PG_RESTORE):
        assert command in DOC


def test_sqlite_backup_and_restore(tmp_path):
    assert _crm(tmp_path, "init-db").returncode == 0
    url = f"sqlite:///{tmp_path / 'instance' / 'crm.sqlite'}"
    _add_customer(url, "Before The Backup Co")
    _sh(SQLITE_BACKUP, tmp_path)  # while the database is open and in WAL mode
    _add_customer(url, "After The Backup Co")
    assert _names(url) == ["After The Backup Co", "Before The Backup Co"]
    _sh(SQLITE_RESTORE, tmp_path)
    assert _names(url) == ["Before The Backup Co"]
    check = _crm(tmp_path, "check")
    assert "✓ The database schema is up to date." in check.stdout, check.stdout + check.stderr


@pytest.fixture
def pg_database() -> Any:
    base = os.environ.get("CRM_TEST_DATABASE_URL")
    if not base or not base.startswith("postgresql"):
        pytest.skip("PostgreSQL only (CRM_TEST_DATABASE_URL)")
    name = f"crm_backup_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_postgresql_backup_and_restore(tmp_path, pg_database):
    url = pg_database
    assert _crm(tmp_path, "init-db", CRM_DATABASE_URL=url).returncode == 0
    _add_customer(url, "Before The Backup Co")
    pgurl = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    _sh(PG_BACKUP, tmp_path, PGURL=pgurl)
    _add_customer(url, "After The Backup Co")
    _sh(PG_RESTORE, tmp_path, PGURL=pgurl)
    assert _names(url) == ["Before The Backup Co"]
    check = _crm(tmp_path, "check", CRM_DATABASE_URL=url)
    assert "✓ The database schema is up to date." in check.stdout, check.stdout + check.stderr
