"""Fixtures of the sales plugin's tests: the app with the plugin loaded like a third party
(by import path in the settings), and small builders for customers and reps."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from crmcore.services import customers as customer_svc
from plugins.sales import models  # noqa: F401 - the tables are on the metadata before the database fixture


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=["plugins.sales"])


@pytest.fixture
def make_customer(ctx: Any) -> Callable[..., Any]:
    """``make_customer("Acme", owner)`` -> a Customer owned by ``owner`` (a User or None)."""

    def factory(name: str, owner: Any = None, **data: Any) -> Any:
        return customer_svc.create_customer(ctx, {"name": name, "owner_id": getattr(owner, "id", None), **data})

    return factory



@pytest.fixture
def ctx(rt: Any) -> Any:
    """A system context whose session is closed at the end, even when API requests in the test
    removed the thread's scoped session under it (on PostgreSQL an open one would block the wipe)."""
    context = rt.context(source="test")
    yield context
    context.session.close()


@pytest.fixture
def make_rep(ctx: Any) -> Callable[..., Any]:
    """``make_rep("rep_a", team="East")`` -> a User without a password (fast: no key derivation)."""
    from crmcore.services import users as user_svc

    def factory(username: str, role: str = "sales", team: str | None = None) -> Any:
        return user_svc.create_user(ctx, username, None, role, team=team)

    return factory
