"""Fixtures of the sales plugin's tests: the app with the plugin loaded like a third party (by import
path in the settings) and a builder for reps; the rest comes from the testing kit (crmcore.testing)."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from plugins.sales import models  # noqa: F401 - the tables are on the metadata before the database fixture


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=["plugins.sales"])


@pytest.fixture
def make_rep(ctx: Any) -> Callable[..., Any]:
    """``make_rep("rep_a", team="East")`` -> a User without a password (fast: no key derivation)."""
    from crmcore.services import users as user_svc

    def factory(username: str, role: str = "sales", team: str | None = None) -> Any:
        return user_svc.create_user(ctx, username, None, role, team=team)

    return factory
