"""The pytest plugin of the testing kit: fixtures for a CRM app on a test database (entry point ``pytest11``).

Fixtures: ``database`` (one per run: SQLite, or PostgreSQL from ``CRM_TEST_DATABASE_URL``),
``clean_database`` (emptied for this test; every app fixture uses it), ``crm_plugins`` (override it
to register your plugin), ``settings``, ``make_app``, ``app``, ``client``, ``runner``, ``rt``,
``ctx`` (a system context), ``make_user``, ``admin_headers``, ``make_customer`` and ``run_job``; for
browser tests ``live_url``, ``make_browser`` and ``browser`` (:mod:`crmcore.testing.browser`); for mail
``smtp_server`` (:mod:`crmcore.testing.mail`).
Imports of the CRM happen inside the fixtures, so loading the plugin costs nothing to other projects.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..runtime import ServiceContext


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The test database, once per run, with the tables of every model imported so far (import your
    plugin's models in your conftest so they are created here; ``make_app`` creates later ones)."""
    from ..models import load_all

    load_all()  # the core's tables
    from .database import open_test_database, test_database_url

    db = open_test_database(test_database_url(tmp_path_factory.mktemp("db")))
    yield db
    db.dispose()


@pytest.fixture
def empty_database_url(tmp_path: Any) -> Iterator[str]:
    """A new, empty database for one test (a migration from nothing): SQLite, or its own database on the
    ``CRM_TEST_DATABASE_URL`` server, dropped afterwards."""
    from .database import empty_database

    with empty_database(tmp_path) as url:
        yield url


@pytest.fixture
def clean_database(database: Any) -> Iterator[Any]:
    """The test database emptied before this test (every table, plugins' too)."""
    from .database import wipe

    wipe(database)
    yield database
    database.session.remove()


@pytest.fixture
def crm_plugins() -> list[tuple[str, Any]]:
    """``(name, plugin)`` pairs every ``make_app`` registers; override it in your conftest, e.g.
    ``return [("loyalty", crm_plugin_loyalty)]``."""
    return []


@pytest.fixture
def settings(clean_database: Any, tmp_path: Any) -> dict[str, Any]:
    """The app's settings: the test database, an instance folder of its own, no entry-point plugins."""
    return {"DATABASE_URL": clean_database.url, "INSTANCE_PATH": str(tmp_path / "instance"), "PLUGINS_AUTOLOAD": False,
            "SECRET_KEY": "test-secret", "TESTING": True}


@pytest.fixture
def make_app(clean_database: Any, settings: dict[str, Any], crm_plugins: list[tuple[str, Any]]) -> Callable[..., Any]:
    """``make_app(plugins=[(name, plugin)], **settings)``: an app on the test database with ``crm_plugins``,
    those plugins and those settings (``PLUGINS=["pkg.module"]`` loads plugins by import path); roles and change
    stamps seeded."""
    from ..app import create_app
    from ..db import Base
    from ..models.custom_field import seed_stamps
    from ..runtime import build_runtime
    from ..services import users as user_svc

    def factory(plugins: Any = (), **overrides: Any) -> Any:
        config = {**settings, **overrides}
        rt = build_runtime(config, plugins=[*crm_plugins, *plugins], db=clean_database)
        app = create_app(config, runtime=rt)
        Base.metadata.create_all(clean_database.engine)  # tables of plugins registered just now
        with clean_database.engine.begin() as conn:
            seed_stamps(conn)  # and their change stamps' rows (as ``crm init-db``)
        user_svc.seed_roles(rt.context())
        return app

    return factory


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    """The app with ``crm_plugins``; override it to load more (``return make_app(PLUGINS=[...])``)."""
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def rt(app: Any) -> Any:
    """The app's ``Runtime`` (settings, plugin manager, registry, database)."""
    return app.extensions["crm"]


@pytest.fixture
def ctx(rt: Any) -> Iterator[Any]:
    """A system ``ServiceContext`` (every permission); its session is closed after the test."""
    context = rt.context(source="test")
    yield context
    context.session.close()


@pytest.fixture
def make_user(rt: Any) -> Callable[..., tuple[Any, dict[str, str]]]:
    """``make_user("sales", team="East")`` -> (user, headers with a Bearer token for the API)."""
    from ..services import users as user_svc

    counter = {"n": 0}

    def factory(role: str = "sales", team: str | None = None, username: str | None = None) -> tuple[Any, dict[str, str]]:
        counter["n"] += 1
        system = rt.context(source="test")
        user = user_svc.create_user(system, username or f"{role}{counter['n']}", "password123", role, team=team)
        _, token = user_svc.create_token(system, user)
        return user, {"Authorization": f"Bearer {token}"}

    return factory


@pytest.fixture
def admin_headers(make_user: Callable[..., Any]) -> dict[str, str]:
    """API headers of an administrator."""
    headers: dict[str, str] = make_user("admin", username="root")[1]
    return headers


@pytest.fixture
def make_customer(ctx: ServiceContext) -> Callable[..., Any]:
    """``make_customer("Acme", owner, email=...)`` -> a Customer owned by ``owner`` (a User or None),
    created through the service (audited, events sent)."""
    from ..services import customers as customer_svc

    def factory(name: str, owner: Any = None, **data: Any) -> Any:
        return customer_svc.create_customer(ctx, {"name": name, "owner_id": getattr(owner, "id", None), **data})

    return factory


@pytest.fixture
def run_job(rt: Any) -> Iterator[Callable[..., Any]]:
    """``run_job("sales.kpi_snapshot")`` runs a registered job now as the scheduler does (its own
    session, source ``scheduler``) and returns its ``JobRun``; a failed job fails the test with the
    job's error unless ``check=False``."""
    from ..services import jobs

    sessions: list[Any] = []

    def run(name: str, check: bool = True) -> Any:
        session = rt.db.new_session()
        sessions.append(session)
        state = jobs.run_job(rt.context(source="scheduler", session=session), name)
        if check and state.last_status != "ok":
            pytest.fail(f"job {name} failed: {state.last_error}")
        return state

    yield run
    for session in sessions:
        session.close()


# Browser tests (headless Chromium): live_url, make_browser, browser, and screenshots of failed tests.
from .browser import browser, live_url, make_browser, pytest_runtest_makereport  # noqa: E402,F401
from .mail import smtp_server  # noqa: E402,F401 - a real SMTP server (aiosmtpd) for mail tests
