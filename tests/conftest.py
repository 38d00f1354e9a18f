"""Shared fixtures: one database per run (SQLite, or PostgreSQL from CRM_TEST_DATABASE_URL),
emptied before each test; flaskr-style ``app``, ``client`` and ``runner``; users with tokens."""
from __future__ import annotations

import os
from typing import Any, Callable

import pytest
from sqlalchemy.orm import close_all_sessions
from sqlalchemy import text

from crmcore import models  # noqa: F401
from crmcore.app import create_app
from crmcore.db import Base, Database
from crmcore.runtime import build_runtime
from crmcore.services import users as user_svc


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Database:
    url = os.environ.get("CRM_TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    db = Database(url)
    if db.engine.dialect.name == "postgresql":  # also drops tables of plugins this run did not import
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    Base.metadata.drop_all(db.engine)
    Base.metadata.create_all(db.engine)
    yield db
    db.dispose()


def wipe(db: Database) -> None:
    """Empty every table (plugins' too) so each test starts from nothing."""
    db.session.remove()
    # a test may keep a session of its own open (a context whose scoped session a request removed,
    # ``ctx.fresh()``): end them all, or on PostgreSQL their open transaction blocks the TRUNCATE
    close_all_sessions()
    with db.engine.begin() as conn:
        tables = [t for t in reversed(Base.metadata.sorted_tables) if conn.dialect.has_table(conn, t.name)]
        if conn.dialect.name == "postgresql":
            if tables:
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for t in tables:
                conn.execute(t.delete())
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")


@pytest.fixture(autouse=True)
def _clean(database: Database) -> Any:
    wipe(database)
    yield
    database.session.remove()


@pytest.fixture
def settings(database: Database, tmp_path: Any) -> dict[str, Any]:
    return {"DATABASE_URL": database.url, "INSTANCE_PATH": str(tmp_path / "instance"), "PLUGINS_AUTOLOAD": False,
            "SECRET_KEY": "test-secret", "TESTING": True}


@pytest.fixture
def make_app(database: Database, settings: dict[str, Any]) -> Callable[..., Any]:
    """Build an app on the shared database, with extra plugins or settings."""

    def factory(plugins: Any = (), **overrides: Any) -> Any:
        rt = build_runtime({**settings, **overrides}, plugins=plugins, db=database)
        app = create_app({**settings, **overrides}, runtime=rt)
        Base.metadata.create_all(database.engine)  # tables of plugins registered just now
        user_svc.seed_roles(rt.context())
        return app

    return factory


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def rt(app: Any) -> Any:
    return app.extensions["crm"]


@pytest.fixture
def ctx(rt: Any) -> Any:
    """A system context (acts with every permission)."""
    return rt.context(source="test")


@pytest.fixture
def make_user(rt: Any) -> Callable[..., Any]:
    """``make_user("sales", team="East")`` -> (user, headers with a Bearer token)."""
    counter = {"n": 0}

    def factory(role: str = "sales", team: str | None = None, username: str | None = None) -> tuple[Any, dict[str, str]]:
        counter["n"] += 1
        ctx = rt.context(source="test")
        user = user_svc.create_user(ctx, username or f"{role}{counter['n']}", "password123", role, team=team)
        _, token = user_svc.create_token(ctx, user)
        return user, {"Authorization": f"Bearer {token}"}

    return factory


@pytest.fixture
def admin_headers(make_user: Callable[..., Any]) -> dict[str, str]:
    return make_user("admin", username="root")[1]
