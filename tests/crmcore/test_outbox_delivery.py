"""The outbox: rows only for destinations that exist, claimed delivery (never twice, a crashed worker's
claim expires), per-destination backoff and time slices, and every lookup of delivery on an index."""
from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from crmcore import hookimpl
from crmcore.contracts import OutboxHandler
from crmcore.db import utcnow
from crmcore.errors import RetriableAdapterError
from crmcore.models import OutboxDestination, OutboxMessage
from crmcore.services import customers as customer_svc
from crmcore.services import outbox


def _app(make_app: Any, *handlers: OutboxHandler) -> Any:
    class Plugin:
        @hookimpl
        def crm_register_outbox_handlers(self) -> list[OutboxHandler]:
            return list(handlers)

    return make_app(plugins=[("outboxtest", Plugin())])


def _count(ctx: Any, **where: Any) -> int:
    stmt = select(func.count()).select_from(OutboxMessage)
    for key, value in where.items():
        stmt = stmt.where(getattr(OutboxMessage, key) == value)
    return int(ctx.session.scalar(stmt))


def test_rows_only_for_destinations_that_exist_asked_once_per_transaction(make_app):
    state = {"on": False, "asked": 0}

    def exists(ctx: Any) -> bool:
        state["asked"] += 1
        return state["on"]

    app = _app(make_app, OutboxHandler("shop", ("customer.*", "contact.*"), lambda c, m: None, active=exists),
               OutboxHandler("feed", ("customer.*",), lambda c, m: None))
    ctx = app.extensions["crm"].context(source="test")
    customer_svc.create_customer(ctx, {"name": "No Shop Yet Co", "tags": ["VIP"]})  # customer + tag: 2 events
    assert _count(ctx, destination="shop") == 0
    assert _count(ctx, destination="feed") == 1
    assert state["asked"] == 1  # once for the whole transaction, not per event

    state["on"] = True  # the destination appears: the next transaction asks again
    customer_svc.create_customer(ctx, {"name": "Shop Open Co"})
    assert _count(ctx, destination="shop") == 1 and state["asked"] == 2

    from crmcore.services.customer_batch import create_customers

    state["on"] = False  # bulk writes ask too
    create_customers(ctx, [{"name": "Batch Co 1"}, {"name": "Batch Co 2"}])
    assert _count(ctx, destination="shop") == 1 and _count(ctx, destination="feed") == 4
    ctx.session.close()


def _messages(ctx: Any, destination: str, n: int) -> list[int]:
    ids = []
    for i in range(n):
        key = uuid.uuid4().hex
        msg = OutboxMessage(event_id=key[:36], topic="customer.created", destination=destination,
                            payload={"n": i}, idempotency_key=f"{key}:{destination}",
                            next_attempt_at=utcnow() - dt.timedelta(seconds=1))
        ctx.session.add(msg)
        ctx.session.flush()
        ids.append(msg.id)
    ctx.session.commit()
    return ids


def test_two_workers_never_claim_one_message_and_a_crashed_workers_claim_expires(make_app):
    delivered: list[int] = []
    app = _app(make_app, OutboxHandler("shop", ("customer.*",), lambda c, m: delivered.append(m.id)))
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    ids = _messages(ctx, "shop", 10)
    now = utcnow()
    a, b = rt.db.new_session(), rt.db.new_session()
    try:
        first = outbox.claim(a, "shop", "worker-a", now, limit=6, lease=60)
        second = outbox.claim(b, "shop", "worker-b", now, limit=6, lease=600)
        assert first == ids[:6] and second == ids[6:]  # disjoint: the claimed ones are not offered again
        assert outbox.claim(b, "shop", "worker-b", now, limit=6, lease=60) == []
        # worker-a crashes with its claims: they come back when the lease ends, not before
        assert outbox.deliver_due(ctx, now=now + dt.timedelta(seconds=30))["delivered"] == 0
        counts = outbox.deliver_due(ctx, now=now + dt.timedelta(seconds=61))
        assert counts["delivered"] == 6 and delivered == ids[:6]  # worker-b's claims are still running
        row = ctx.session.get(OutboxMessage, ids[0])
        assert (row.status, row.claimed_by, row.claimed_until) == ("delivered", None, None)
    finally:
        a.close()
        b.close()
        ctx.session.close()


def test_concurrent_workers_deliver_each_message_once(make_app):
    delivered: list[int] = []
    lock = threading.Lock()

    def deliver(ctx: Any, msg: Any) -> None:
        with lock:
            delivered.append(msg.id)

    app = _app(make_app, OutboxHandler("shop", ("customer.*",), deliver))
    rt = app.extensions["crm"]
    setup = rt.context(source="test")
    ids = _messages(setup, "shop", 60)
    setup.session.close()
    errors: list[BaseException] = []

    def worker() -> None:
        wctx = rt.context(source="scheduler", session=rt.db.new_session())
        try:
            while outbox.deliver_due(wctx, batch=5, limit=5)["delivered"]:
                pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            wctx.session.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(delivered) == ids  # every message once, none twice


def test_a_destination_found_down_is_paused_and_the_others_go_on(make_app):
    tried: dict[str, int] = {"down": 0, "up": 0}

    def down(ctx: Any, msg: Any) -> None:
        tried["down"] += 1
        raise ConnectionRefusedError("receiver is down")

    def up(ctx: Any, msg: Any) -> None:
        tried["up"] += 1

    app = _app(make_app, OutboxHandler("down", ("customer.*",), down), OutboxHandler("up", ("customer.*",), up))
    ctx = app.extensions["crm"].context(source="test")
    _messages(ctx, "down", 5)
    _messages(ctx, "up", 5)
    t0 = utcnow()
    counts = outbox.deliver_due(ctx, now=t0)
    assert counts == {"delivered": 5, "retry": 1, "dead": 0, "unroutable": 0}
    assert tried == {"down": 1, "up": 5}  # one try tells the destination is down: its other 4 wait
    state = ctx.session.get(OutboxDestination, "down")
    assert state.failures == 1 and state.paused_until == t0 + outbox.backoff(1)
    assert "receiver is down" in state.last_error
    assert _count(ctx, destination="down", status="pending") == 5
    assert ctx.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.claimed_by.is_not(None))) == 0  # released, not left claimed

    assert outbox.deliver_due(ctx, now=t0 + dt.timedelta(seconds=1))["retry"] == 0  # paused
    assert tried["down"] == 1
    t1 = t0 + outbox.backoff(1)
    assert outbox.deliver_due(ctx, now=t1)["retry"] == 1
    state = ctx.session.get(OutboxDestination, "down")
    assert state.failures == 2 and state.paused_until == t1 + outbox.backoff(2)  # the pause grows

    outbox.resume(ctx.session, "down")  # e.g. its settings changed
    ctx.session.commit()
    assert outbox.deliver_due(ctx, now=t1 + dt.timedelta(seconds=1))["retry"] == 1
    ctx.session.close()


def test_a_bad_message_is_retried_alone_and_a_recovered_destination_is_unpaused(make_app):
    state = {"fail_ids": set(), "down": False}

    def deliver(ctx: Any, msg: Any) -> None:
        if state["down"]:
            raise RetriableAdapterError("503 from the receiver")
        if msg.id in state["fail_ids"]:
            raise ValueError("this record is refused")

    app = _app(make_app, OutboxHandler("shop", ("customer.*",), deliver))
    ctx = app.extensions["crm"].context(source="test")
    ids = _messages(ctx, "shop", 4)
    state["fail_ids"] = {ids[0]}
    t0 = utcnow()
    assert outbox.deliver_due(ctx, now=t0) == {"delivered": 3, "retry": 1, "dead": 0, "unroutable": 0}
    assert ctx.session.get(OutboxDestination, "shop") is None  # one refused record is not the destination down

    more = _messages(ctx, "shop", 2)
    state["down"] = True
    assert outbox.deliver_due(ctx, now=t0)["retry"] == 1
    assert ctx.session.get(OutboxDestination, "shop").failures == 1
    state["down"], state["fail_ids"] = False, set()
    t1 = t0 + outbox.backoff(1)
    assert outbox.deliver_due(ctx, now=t1)["delivered"] == 3  # the 2 new and the refused one's retry
    ctx.session.expire_all()
    assert ctx.session.get(OutboxDestination, "shop").failures == 0  # working again: no pause left
    assert all(ctx.session.get(OutboxMessage, i).status == "delivered" for i in [*ids[1:], *more])
    ctx.session.close()


def test_a_slow_destination_does_not_hold_up_the_others(make_app):
    """Each destination has its own time slice per run: a slow one delivers what fits in it, the rest wait
    for the next run, unclaimed; a fast one drains all its messages in the same run (a fake clock)."""
    clock = {"t": 0.0}
    delivered = {"slow": 0, "fast": 0}

    def slow(ctx: Any, msg: Any) -> None:
        clock["t"] += 10.0  # each message takes 10 s at the receiver
        delivered["slow"] += 1

    def fast(ctx: Any, msg: Any) -> None:
        clock["t"] += 0.01
        delivered["fast"] += 1

    app = _app(make_app, OutboxHandler("a-slow", ("customer.*",), slow), OutboxHandler("b-fast", ("customer.*",), fast))
    ctx = app.extensions["crm"].context(source="test")
    _messages(ctx, "a-slow", 20)
    _messages(ctx, "b-fast", 40)
    counts = outbox.deliver_due(ctx, batch=5, time_slice=30, clock=lambda: clock["t"])
    assert delivered == {"slow": 3, "fast": 40}
    assert counts["delivered"] == 43
    assert _count(ctx, destination="a-slow", status="pending") == 17
    assert ctx.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.claimed_by.is_not(None))) == 0  # the slow one's unfinished batch was released
    ctx.session.close()


def _full_scans(conn: Any, statement: str, parameters: Any) -> list[str]:
    """The full scans of the outbox tables in a statement's plan (SQLite or PostgreSQL)."""
    raw = conn.connection.dbapi_connection
    cur = raw.cursor()
    try:
        if conn.dialect.name == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            details = [str(row[-1]) for row in cur.fetchall()]
            return [d for d in details if re.match(r"SCAN (outbox|outbox_destinations)\b", d)]
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # with a usable index, the planner must take it
        # (through the engine: on PostgreSQL it opens the transaction, which begins at its first statement that
        # is not a plain read)
        cur.execute("EXPLAIN " + statement, parameters)
        plan = [str(row[0]) for row in cur.fetchall()]
        return [line for line in plan if re.search(r"Seq Scan on (outbox|outbox_destinations)\b", line)]
    finally:
        cur.close()


def test_every_lookup_of_delivery_uses_an_index(make_app):
    """Run a delivery (claims, retries, a paused destination, an unroutable message) and EXPLAIN each
    statement it sent to the outbox tables: none reads a whole table (run on SQLite and PostgreSQL)."""
    def down(ctx: Any, msg: Any) -> None:
        raise ConnectionRefusedError("down")

    app = _app(make_app, OutboxHandler("up", ("customer.*",), lambda c, m: None),
               OutboxHandler("down", ("customer.*",), down))
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    _messages(ctx, "up", 3)
    _messages(ctx, "down", 3)
    _messages(ctx, "gone", 1)  # its plugin is not loaded
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if re.search(r"\boutbox", statement) and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            seen.append((statement, parameters))

    event.listen(rt.db.engine, "before_cursor_execute", record)
    try:
        counts = outbox.deliver_due(ctx)
        outbox.deliver_due(ctx)  # the paused destination's lookup too
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", record)
    assert counts["delivered"] == 3 and counts["retry"] == 1 and counts["unroutable"] == 1
    assert len({s for s, _p in seen}) >= 4  # claims, the message, the destination's state, unroutable
    with rt.db.engine.connect() as conn:
        with conn.begin():
            scans = {statement: _full_scans(conn, statement, parameters) for statement, parameters in seen}
    assert {s: found for s, found in scans.items() if found} == {}
    ctx.session.close()


def test_statements_of_the_explain_check_can_fail(make_app):
    """The check above finds a full scan when there is one (an unindexed lookup)."""
    app = make_app()
    rt = app.extensions["crm"]
    with rt.db.engine.connect() as conn:
        with conn.begin():
            stmt = "SELECT id FROM outbox WHERE last_error = " + ("?" if conn.dialect.name == "sqlite" else "%(e)s")  # noqa: S608 - a placeholder
            params: Any = ("x",) if conn.dialect.name == "sqlite" else {"e": "x"}
            assert _full_scans(conn, stmt, params)


@pytest.fixture
def postgres_only(clean_database: Any) -> None:
    if clean_database.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (CRM_TEST_DATABASE_URL)")


def test_claims_skip_rows_locked_by_another_worker_on_postgresql(make_app, postgres_only):
    """On PostgreSQL the candidate rows are taken ``FOR UPDATE SKIP LOCKED``: a worker whose claim is
    still being written (its transaction open) does not make another wait; it claims the next ones."""
    app = _app(make_app, OutboxHandler("shop", ("customer.*",), lambda c, m: None))
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    ids = _messages(ctx, "shop", 4)
    holder = rt.db.new_session()
    other = rt.db.new_session()
    try:
        holder.execute(text("SELECT id FROM outbox WHERE id IN (:a, :b) FOR UPDATE"), {"a": ids[0], "b": ids[1]})
        assert outbox.claim(other, "shop", "worker-b", utcnow(), limit=4) == ids[2:]
    finally:
        holder.rollback()
        holder.close()
        other.close()
        ctx.session.close()
