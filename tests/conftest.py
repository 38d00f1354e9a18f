"""The project's own tests use the testing kit (crmcore.testing.plugin: ``database``, ``app``,
``client``, ``runner``, ``rt``, ``ctx``, ``make_user``, ``make_customer``, ``run_job``, ...); here
only: every test starts from an empty database, even one that builds no app."""
from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _clean(clean_database: Any) -> Any:
    yield
