"""Fixtures of the OA adapter tests: the app with the sales plugin and the ``oa`` adapter loaded as
plugins, the team of the quote example, and the CRM served over real HTTP for OA callbacks."""
from __future__ import annotations

import threading
from typing import Any, Callable

import pytest
from werkzeug.serving import make_server

from crmcore.services import customers as customer_svc
from crmcore.services import users as user_svc
from plugins.sales import models as sales_models  # noqa: F401 - the tables are on the metadata before the database fixture

PLUGINS = ["plugins.sales", "adapters.oa"]


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=PLUGINS, OA_PROCESS_INLINE=False)


@pytest.fixture
def sessions(rt: Any) -> Any:
    """``sessions()`` -> a new session, closed after the test (open ones block the wipe on PostgreSQL)."""
    opened: list[Any] = []

    def factory() -> Any:
        session = rt.db.new_session()
        opened.append(session)
        return session

    yield factory
    for session in opened:
        session.close()


@pytest.fixture
def people(ctx: Any) -> dict[str, Any]:
    """East: ``boss`` (a manager) manages ``rep``; ``m2`` manages West; each has an API token."""
    boss = user_svc.create_user(ctx, "boss", None, "manager", team="East")
    rep = user_svc.create_user(ctx, "rep", None, "sales", team="East")
    m2 = user_svc.create_user(ctx, "m2", None, "manager", team="West")
    rep.team.manager_id = boss.id
    m2.team.manager_id = m2.id
    ctx.session.commit()
    out = {"boss": boss, "rep": rep, "m2": m2}
    for name, user in list(out.items()):
        out[f"{name}_h"] = {"Authorization": "Bearer " + user_svc.create_token(ctx, user)[1]}
    out["customer"] = customer_svc.create_customer(ctx, {"name": "Acme", "owner_id": rep.id, "currency": "CNY"})
    return out


@pytest.fixture
def served(app: Any) -> Any:
    """The CRM app on a real HTTP port of 127.0.0.1 (where an OA posts its callbacks)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
