"""What every hand-written import baseline shares: the audit and outbox rows a service writes for a change,
and the timed loop that reads the CSV file in batches, each written and committed in one transaction."""
from __future__ import annotations

import csv
import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Any, Callable


class Baseline:
    """The audit entries and outbox rows of a batch's changes, as the services write them, one INSERT per table."""

    def __init__(self, rt: Any, source: str = "cli") -> None:
        self.rt, self.source = rt, source
        self.handlers = list(rt.registry.outbox_handlers.values())
        self.audits: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []

    def change(self, entity: str, action: str, entity_id: int, changes: dict[str, Any], data: dict[str, Any],
               topic: str | None = None) -> None:
        """One change: its audit entry and an outbox row per destination that wants ``topic`` (``<entity>.<action>``)."""
        from crmcore.events import jsonable

        event_id = str(uuid.uuid4())
        payload_data = jsonable({"changes": changes, **data})
        self.audits.append({"actor_id": None, "actor_label": self.source, "source": self.source, "action": action,
                            "entity": entity, "entity_id": str(entity_id), "changes": payload_data["changes"],
                            "data": jsonable(data), "event_id": event_id})
        topic = topic or f"{entity}.{action}"
        payload = None
        for handler in self.handlers:
            if handler.wants(topic, self.source):
                payload = payload or {"id": event_id, "name": topic, "entity": entity, "entity_id": entity_id,
                                      "data": payload_data, "actor_id": None,
                                      "at": dt.datetime.now(dt.timezone.utc).isoformat()}
                self.outbox.append({"event_id": event_id, "topic": topic, "destination": handler.name,
                                    "payload": payload, "idempotency_key": f"{event_id}:{handler.name}"})

    def flush(self, session: Any, audit: bool = True) -> None:
        """Write the changes recorded so far (without the audit entries: ``--audit=summary``'s baseline)."""
        from sqlalchemy import insert

        from crmcore.models import AuditLog, OutboxMessage

        if self.audits and audit:
            session.execute(insert(AuditLog.__table__), self.audits)
        if self.outbox:
            session.execute(insert(OutboxMessage.__table__), self.outbox)
        self.audits, self.outbox = [], []


def insert_ids(session: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows``; their new ids in order, written the fastest way the database has (the importers' way): on
    PostgreSQL ids drawn from the sequence, then a plain ``executemany``; on SQLite one ``executemany`` and the ids
    read after it (consecutive: the rowid rule, the write lock held); elsewhere ``INSERT ... RETURNING``."""
    from sqlalchemy import func, insert, select, text

    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        sequence = session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.fullname})
        ids = list(session.scalars(text("SELECT nextval(:s) FROM generate_series(1, :n) AS n ORDER BY n"),
                                   {"s": sequence, "n": len(rows)}))
        session.execute(insert(table), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
        return ids
    if session.get_bind().dialect.name == "sqlite":
        session.execute(insert(table), rows)
        last = int(session.scalar(select(func.max(table.c.id))))
        return list(range(last - len(rows) + 1, last + 1))
    return list(session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars())


Writer = Callable[[Any, Baseline, list[dict[str, str]]], None]


def timed(rt: Any, path: Path, write: Writer, *, batch: int = 1000, key: str | None = None,
          encoding: str = "utf-8-sig") -> float:
    """Seconds to read ``path`` and hand batches of ``batch`` rows to ``write(session, recorder, rows)``, each
    batch's changes then written and committed; with ``key``, rows with the same value there in a row (an
    order's lines) stay in one batch."""
    session = rt.db.new_session()
    recorder = Baseline(rt)
    started = time.perf_counter()

    def commit(rows: list[dict[str, str]]) -> None:
        write(session, recorder, rows)
        recorder.flush(session)
        session.commit()

    with path.open(encoding=encoding, newline="") as fh:
        rows: list[dict[str, str]] = []
        for row in csv.DictReader(fh):
            if len(rows) >= batch and (key is None or row[key] != rows[-1][key]):
                commit(rows)
                rows = []
            rows.append(row)
        if rows:
            commit(rows)
    seconds = time.perf_counter() - started
    session.close()
    return seconds
