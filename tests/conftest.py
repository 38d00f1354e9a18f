"""The project's own tests use the testing kit (crmcore.testing.plugin: ``database``, ``app``,
``client``, ``runner``, ``rt``, ``ctx``, ``make_user``, ``make_customer``, ``run_job``, ...); here
only: every test starts from an empty database, even one that builds no app, and every API answer's compiled
dump is compared with the schema's own (``crmcore.schemas.compiled.VERIFY``)."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import pytest
from sqlalchemy import event as sa_event


@pytest.fixture(autouse=True, scope="session")
def _verify_compiled_dumps() -> Iterator[None]:
    from crmcore.schemas import compiled

    compiled.VERIFY = True
    yield
    compiled.VERIFY = False


@pytest.fixture(autouse=True)
def _clean(clean_database: Any) -> Any:
    yield


@contextlib.contextmanager
def _savepoints(rt: Any) -> Iterator[list[Any]]:
    seen: list[Any] = []

    def count(session: Any, transaction: Any) -> None:
        if transaction.nested:
            seen.append(transaction)

    sa_event.listen(rt.db.sessionmaker, "after_transaction_create", count)
    try:
        yield seen
    finally:
        sa_event.remove(rt.db.sessionmaker, "after_transaction_create", count)


@pytest.fixture
def savepoints_of() -> Any:
    """``with savepoints_of(rt) as seen:``: the savepoints the sessions of ``rt`` begin meanwhile."""
    return _savepoints
