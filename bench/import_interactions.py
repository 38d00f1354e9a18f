"""``crm import interactions`` against a hand-written ``executemany`` baseline writing the same rows.

``python bench/run.py import_interactions [--rows 3000] [--rounds 3] [--pg URL] [--audit row|summary]
[--memory]``. Five interactions per customer (made beforehand), referenced by code, with an external id; the
baseline looks the customers up by code per batch, parses the times, writes the interactions, their
external ids, audit entries and outbox rows.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from _baseline import Baseline, insert_ids, timed
from _import_bench import arguments, measure, seed_customers

COLUMNS = ["external_id", "customer_code", "channel", "subject", "occurred_at", "direction"]


def write_file(path: Path, rows: int) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for i in range(rows):
            out.writerow([f"M-{i}", f"K{i // 5:07d}", ("phone", "email", "visit")[i % 3], f"第{i}次联系",
                          (start + dt.timedelta(minutes=i)).isoformat(), ("inbound", "outbound")[i % 2]])


def prepare(rt: Any, rows: int) -> None:
    seed_customers(rt, (rows + 4) // 5)


def baseline(rt: Any, path: Path) -> float:
    from sqlalchemy import insert, select

    from crmcore.db import utcnow
    from crmcore.models import Customer, ExternalRef, Interaction


    def write(session: Any, recorder: Baseline, batch: list[dict[str, str]]) -> None:
        now = utcnow()
        found = {code: cid for code, cid in session.execute(select(Customer.code, Customer.id).where(
            Customer.code.in_({r["customer_code"] for r in batch})))}
        items = [{"customer_id": found[r["customer_code"]], "channel": r["channel"], "subject": r["subject"],
                  "direction": r["direction"], "occurred_at": dt.datetime.fromisoformat(r["occurred_at"]),
                  "source": "cli", "data": {}, "created_at": now} for r in batch]
        ids = insert_ids(session, Interaction.__table__, items)
        session.execute(insert(ExternalRef.__table__), [
            {"system": "import", "entity": "interaction", "entity_id": iid, "external_id": r["external_id"],
             "created_at": now, "last_synced_at": now} for r, iid in zip(batch, ids, strict=True)])
        for item, iid in zip(items, ids, strict=True):
            recorder.change("interaction", "created", iid, {"channel": [None, item["channel"]],
                                                             "subject": [None, item["subject"]]},
                            {"customer_id": item["customer_id"]})

    return timed(rt, path, write)


def main(argv: list[str] | None = None) -> int:
    args = arguments("import_interactions", argv)
    return measure("import_interactions", args, "interactions", write_file, prepare, baseline)


if __name__ == "__main__":
    raise SystemExit(main())
