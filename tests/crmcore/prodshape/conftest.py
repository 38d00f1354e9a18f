"""The production-shape tests need PostgreSQL: collected only in the PostgreSQL run of the suite."""
from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

collect_ignore_glob = [] if os.environ.get("CRM_TEST_DATABASE_URL") else ["test_*.py"]


@pytest.fixture
def database_url() -> Iterator[str]:
    """A database of its own on the test server, dropped afterwards (processes of the test connect to it)."""
    base = os.environ["CRM_TEST_DATABASE_URL"]
    name = f"crm_prodshape_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


