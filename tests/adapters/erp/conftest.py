"""Fixtures for the ERP adapter tests: a real Tryton server (see tryton/server.py)."""
from __future__ import annotations

import pytest

from .tryton.server import TrytonServer, ensure_template


@pytest.fixture(scope="session")
def tryton_template():
    """Build (or reuse) the template database once per run."""
    return ensure_template()


@pytest.fixture
def tryton(tryton_template, tmp_path):
    """A Tryton server with a fresh copy of the template database, stopped after the test."""
    server = TrytonServer.from_template(tryton_template, tmp_path / "tryton").start()
    try:
        yield server
    finally:
        server.stop()
