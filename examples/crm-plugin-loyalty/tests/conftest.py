"""Fixtures of the plugin's own tests. Everything (a database, ``app``, ``client``, ``ctx``,
``make_user``, ``make_customer``, ``run_job``, ...) comes from the CRM's testing kit, the pytest
plugin ``crmcore.testing.plugin`` installed with crmcore; the plugin is registered here."""
from __future__ import annotations

from typing import Any

import pytest

import crm_plugin_loyalty
from crm_plugin_loyalty import models  # noqa: F401 - its table is on the metadata before the database fixture


@pytest.fixture
def crm_plugins() -> list[tuple[str, Any]]:
    """Every app of these tests has the plugin (entry points are not loaded: nothing else sneaks in)."""
    return [("loyalty", crm_plugin_loyalty)]
