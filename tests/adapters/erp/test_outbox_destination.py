"""The outbox destination ``erp`` exists only with an enabled connection that takes pushes: without one,
CRM changes write no ``erp`` rows (nothing piles up for a destination that is not there)."""
from __future__ import annotations

from sqlalchemy import func, select

from adapters.erp.connections import save_connection
from crmcore.models import OutboxMessage
from crmcore.services import customers as customer_svc


def _erp_rows(ctx) -> int:
    return ctx.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.destination == "erp"))


def test_no_erp_rows_without_an_erp_connection(ctx, tmp_path):
    customer_svc.create_customer(ctx, {"name": "Before Any ERP Co"})
    assert _erp_rows(ctx) == 0

    conn = save_connection(ctx, {"name": "files", "adapter": "csv", "settings": {"directory": str(tmp_path)},
                                 "push_enabled": False})
    customer_svc.create_customer(ctx, {"name": "Pull Only Co"})
    assert _erp_rows(ctx) == 0  # a connection that takes no pushes is no destination

    save_connection(ctx, {"push_enabled": True}, conn.name)
    customer = customer_svc.create_customer(ctx, {"name": "Pushed Co"})
    assert _erp_rows(ctx) == 1
    assert ctx.session.scalar(select(OutboxMessage.payload).where(OutboxMessage.destination == "erp"))[
        "entity_id"] == customer.id

    save_connection(ctx, {"enabled": False}, conn.name)
    customer_svc.update_customer(ctx, customer.id, {"industry": "Tea"})
    assert _erp_rows(ctx) == 1  # switched off: no more rows


def test_every_lookup_of_an_erp_push_is_indexed(ctx, tmp_path):
    """The push reads the audit entry of each message's event (was the change the ERP's own?) by the
    record it is about, on an index, not by scanning the audit log (EXPLAIN, SQLite or PostgreSQL)."""
    import re

    from sqlalchemy import event

    from adapters.erp.push import push_pending

    save_connection(ctx, {"name": "files", "adapter": "csv", "settings": {"directory": str(tmp_path)}})
    customer_svc.create_customer(ctx, {"name": "Indexed Push Co"})
    engine = ctx.session.get_bind()
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if re.search(r"\b(outbox|audit_log)\b", statement) and statement.lstrip().upper().startswith(("SELECT", "UPDATE")):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert push_pending(ctx)["delivered"] == 1
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert any("audit_log" in s for s, _p in seen)
    scans = []
    with engine.connect() as conn, conn.begin():
        cur = conn.connection.dbapi_connection.cursor()
        for statement, parameters in seen:
            if conn.dialect.name == "sqlite":
                cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                scans += [r[-1] for r in cur.fetchall() if re.match(r"SCAN (outbox|audit_log)\b", str(r[-1]))]
            else:
                cur.execute("SET LOCAL enable_seqscan = off")
                cur.execute("EXPLAIN " + statement, parameters)
                scans += [r[0] for r in cur.fetchall() if re.search(r"Seq Scan on (outbox|audit_log)\b", str(r[0]))]
        cur.close()
    assert scans == []
