"""Fixtures of the sales plugin's tests: the app with the plugin loaded like a third party (by import
path in the settings) and a builder for reps; the rest comes from the testing kit (crmcore.testing)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable

import pytest

from crmcore.testing.admin import admin_login

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


@pytest.fixture
def boss(client: Any, make_user: Any) -> dict[str, str]:
    """An admin logged in to the admin (in English) who also holds an API token (its headers)."""
    _, headers = make_user("admin", username="boss")
    admin_login(client, "boss", lang="en")
    return headers


@pytest.fixture
def crm_import(app: Any, tmp_path: Path) -> Callable[[str, list[dict[str, str]]], str]:
    """``crm_import(kind, rows)``: ``crm import <kind>`` of ``rows`` as a CSV file; returns the report of
    the rejected rows (their reasons) as text, empty when none was rejected."""
    from crmcore.cli import cli

    def run(kind: str, rows: list[dict[str, str]]) -> str:
        path = tmp_path / f"{kind}.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
            writer.writeheader()
            writer.writerows(rows)
        result = app.test_cli_runner().invoke(cli, ["import", kind, str(path)])
        assert result.exception is None, repr(result.exception)
        report = tmp_path / f"{kind}.rejected.csv"
        return report.read_text(encoding="utf-8-sig") if report.exists() else ""

    return run
