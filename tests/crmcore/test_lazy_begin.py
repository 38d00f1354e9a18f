"""PostgreSQL (psycopg): a transaction is opened just before its first statement that is not a plain read, so a
request that only reads sends no BEGIN and no ROLLBACK, and whatever writes is one transaction as before."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select, text, update

from crmcore.models import ChangeStamp, Customer
from crmcore.services import stamps


@pytest.fixture
def pg(rt: Any) -> Any:
    if rt.db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (CRM_TEST_DATABASE_URL)")
    return rt


@pytest.fixture
def sent(pg: Any) -> Any:
    """The commands psycopg sends outside the engine's statements (BEGIN, COMMIT, ROLLBACK) and the statements."""
    import psycopg._connection_base as base

    commands: list[str] = []
    original = base.BaseConnection._exec_command

    def spy(self: Any, command: Any, result_format: Any = 0) -> Any:
        commands.append(bytes(command).decode() if isinstance(command, (bytes, bytearray)) else str(command))
        return original(self, command, result_format)

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        commands.append(sql.split()[0].upper())

    base.BaseConnection._exec_command = spy  # type: ignore[method-assign]
    event.listen(pg.db.engine, "before_cursor_execute", statement)
    yield commands
    event.remove(pg.db.engine, "before_cursor_execute", statement)
    base.BaseConnection._exec_command = original  # type: ignore[method-assign]


def _select_writing() -> Any:
    from sqlalchemy import insert

    from crmcore.models import Tag

    new = insert(Tag.__table__).values(name="written by a WITH").returning(Tag.__table__.c.id).cte("written")
    return select(new.c.id)


def _status(session: Any) -> int:
    return int(session.connection().connection.dbapi_connection.info.transaction_status)


def test_reads_send_no_begin_and_no_rollback(pg: Any, ctx: Any, make_customer: Any, sent: list[str]) -> None:
    make_customer("Reader")
    del sent[:]
    session = pg.db.new_session()
    assert session.scalars(select(Customer.name)).all() == ["Reader"]
    assert _status(session) == 0  # no transaction open on the server
    session.close()
    assert sent == ["SELECT"]


def test_a_write_is_one_transaction_with_what_follows_it(pg: Any, make_customer: Any, sent: list[str]) -> None:
    customer = make_customer("Writer")
    session = pg.db.new_session()
    session.scalars(select(Customer.name)).all()
    session.execute(update(Customer).where(Customer.id == customer.id).values(name="Renamed"))
    assert _status(session) != 0  # opened just before the UPDATE
    assert session.scalar(select(Customer.name).where(Customer.id == customer.id)) == "Renamed"  # it sees its write
    other = pg.db.new_session()
    assert other.scalar(select(Customer.name).where(Customer.id == customer.id)) == "Writer"  # not committed
    session.rollback()
    assert other.scalar(select(Customer.name).where(Customer.id == customer.id)) == "Writer"  # undone whole
    other.close()
    session.close()
    assert "ROLLBACK" in sent  # (its BEGIN was sent as a statement of its own: the status above shows it)


@pytest.mark.parametrize("opens", [
    lambda s, cid: s.scalars(select(Customer.id).where(Customer.id == cid).with_for_update()).all(),
    lambda s, cid: s.execute(text("SELECT 1")).all(),  # plain SQL: it might write
    lambda s, cid: s.begin_nested(),  # a savepoint needs a transaction
    lambda s, cid: list(s.execute(select(Customer.id).execution_options(yield_per=10))),  # a server-side cursor
    lambda s, cid: stamps.bump(s, "custom_fields"),  # a DBAPI cursor of its own
    lambda s, cid: s.execute(_select_writing()).all(),  # a SELECT whose WITH inserts (flush_new's record and audit)
])
def test_what_needs_a_transaction_opens_it(pg: Any, make_customer: Any, opens: Any) -> None:
    customer = make_customer("Locked")
    session = pg.db.new_session()
    before = session.scalar(select(ChangeStamp.version).where(ChangeStamp.name == "custom_fields"))
    opens(session, customer.id)
    assert _status(session) != 0
    session.rollback()
    assert session.scalar(select(ChangeStamp.version).where(ChangeStamp.name == "custom_fields")) == before  # undone
    session.close()
