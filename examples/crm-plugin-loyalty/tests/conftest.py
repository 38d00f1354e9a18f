"""Fixtures of the plugin's own tests: a SQLite database, an app with the plugin, users.

Self-contained on purpose: a plugin's tests need only ``crmcore`` and pytest, not the
CRM's own test suite.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

import crm_plugin_loyalty
from crmcore.app import create_app
from crmcore.db import Base, Database
from crmcore.runtime import build_runtime
from crmcore.services import users as user_svc


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('loyalty') / 'loyalty.sqlite'}")
    yield db
    db.dispose()


def empty(db: Database) -> None:
    """Create missing tables and delete every row, so each test starts from nothing."""
    db.session.remove()
    Base.metadata.create_all(db.engine)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")


@pytest.fixture
def settings(database: Database, tmp_path: Any) -> dict[str, Any]:
    # Autoload off: the test registers the plugin itself, and nothing else installed sneaks in.
    return {"DATABASE_URL": database.url, "INSTANCE_PATH": str(tmp_path / "instance"), "PLUGINS_AUTOLOAD": False,
            "SECRET_KEY": "loyalty-test", "TESTING": True}


@pytest.fixture
def make_app(database: Database, settings: dict[str, Any]) -> Callable[..., Any]:
    def factory(**overrides: Any) -> Any:
        config = {**settings, **overrides}
        rt = build_runtime(config, plugins=[("loyalty", crm_plugin_loyalty)], db=database)
        app = create_app(config, runtime=rt)
        empty(database)
        user_svc.seed_roles(rt.context())
        return app

    yield factory
    database.session.remove()


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def ctx(app: Any) -> Any:
    """A system context (every permission)."""
    return app.extensions["crm"].context(source="test")


@pytest.fixture
def make_user(app: Any) -> Callable[..., Any]:
    """``make_user("sales")`` -> (user, headers with a Bearer token)."""
    count = {"n": 0}

    def factory(role: str = "sales") -> tuple[Any, dict[str, str]]:
        count["n"] += 1
        ctx = app.extensions["crm"].context(source="test")
        user = user_svc.create_user(ctx, f"{role}{count['n']}", "password123", role)
        _, token = user_svc.create_token(ctx, user)
        return user, {"Authorization": f"Bearer {token}"}

    return factory
