"""``crm import contacts`` against a hand-written ``executemany`` baseline writing the same rows.

``python bench/run.py import_contacts [--rows 3000] [--rounds 3] [--pg URL] [--audit row|summary] [--memory]``.
Two contacts per customer (customers made beforehand), referenced by code, with an external id; the baseline
looks the customers up by code per batch, normalises the phone and e-mail, writes the contacts, their external
ids, audit entries and outbox rows, and the customers' new completeness.
"""
from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _baseline import Baseline, insert_ids, timed
from _import_bench import arguments, measure, seed_customers

COLUMNS = ["customer_code", "name", "external_id", "mobile", "email", "title"]


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for i in range(rows):
            out.writerow([f"K{i // 2:07d}", f"联系人{i}", f"OLD-{i}", f"139{i:08d}", f"p{i}@bench.example.cn", "经理"])


def prepare(rt: Any, rows: int) -> None:
    seed_customers(rt, (rows + 1) // 2)


def baseline(rt: Any, path: Path) -> float:
    from sqlalchemy import bindparam, insert, select, update

    from crmcore.db import utcnow
    from crmcore.models import Address, Contact, Customer, ExternalRef
    from crmcore.models.customer import customer_tags
    from crmcore.normalize import normalize_email, normalize_phone
    from crmcore.services.completeness import completeness

    region = rt.settings["DEFAULT_REGION"]

    def write(session: Any, recorder: Baseline, batch: list[dict[str, str]]) -> None:
        now = utcnow()
        found = {code: cid for code, cid in session.execute(select(Customer.code, Customer.id).where(
            Customer.code.in_({r["customer_code"] for r in batch})))}
        contacts = [{"customer_id": found[r["customer_code"]], "name": r["name"], "title": r["title"],
                     "mobile": r["mobile"], "email": r["email"], "is_primary": False,
                     "mobile_normalized": normalize_phone(r["mobile"], region),
                     "email_normalized": normalize_email(r["email"]), "attributes": {}, "version": 1,
                     "created_at": now, "updated_at": now} for r in batch]
        ids = insert_ids(session, Contact.__table__, contacts)
        session.execute(insert(ExternalRef.__table__), [
            {"system": "import", "entity": "contact", "entity_id": cid, "external_id": r["external_id"],
             "created_at": now, "last_synced_at": now} for r, cid in zip(batch, ids, strict=True)])
        # the customers' completeness from what they have: their columns, contacts (with this batch's),
        # addresses and tags, three IN queries for the batch
        cids = {c["customer_id"] for c in contacts}
        table = Customer.__table__
        profiles = {row.id: SimpleNamespace(**row._mapping, contacts=[], addresses=[], tags=[])
                    for row in session.execute(select(table).where(table.c.id.in_(cids)))}
        for row in session.execute(select(Contact.__table__.c.customer_id, Contact.phone, Contact.mobile,
                                          Contact.email).where(Contact.customer_id.in_(cids))):
            profiles[row.customer_id].contacts.append(row)
        for row in session.execute(select(Address.customer_id).where(Address.customer_id.in_(cids))):
            profiles[row.customer_id].addresses.append(row)
        for row in session.execute(select(customer_tags.c.customer_id).where(customer_tags.c.customer_id.in_(cids))):
            profiles[row.customer_id].tags.append(row)
        scores = [{"cid": cid, "score": completeness(profile, [], labels=False)[0]} for cid, profile in profiles.items()]
        session.execute(update(Customer.__table__).where(Customer.__table__.c.id == bindparam("cid"))
                        .values(completeness=bindparam("score")), scores)
        for c, cid in zip(contacts, ids, strict=True):
            recorder.change("contact", "created", cid, {k: [None, c[k]] for k in ("name", "title", "mobile", "email")},
                            {"customer_id": c["customer_id"]})

    return timed(rt, path, write)


def main(argv: list[str] | None = None) -> int:
    args = arguments("import_contacts", argv)
    return measure("import_contacts", args, "contacts", write_file, prepare, baseline)


if __name__ == "__main__":
    raise SystemExit(main())
