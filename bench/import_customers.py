"""``crm import customers`` against a hand-written ``executemany`` baseline writing the same rows.

``python bench/run.py import_customers [--rows 3000] [--rounds 3] [--pg URL] [--audit row|summary]
[--memory]``. Each row is a customer with tags, a contact and an address; the baseline computes the
same derived fields (E.164 phones, e-mails, name key, pinyin search text, completeness) and writes
customers, contacts, addresses, tags, audit entries and outbox rows with one ``executemany`` per table.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _baseline import Baseline, insert_ids, timed
from _import_bench import arguments, measure

SURNAMES = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗"
WORDS = ["商贸", "科技", "茶业", "服装", "电子", "食品", "建材", "物流", "医药", "文化"]
CITIES = ["杭州", "上海", "北京", "广州", "深圳", "成都", "南京", "苏州"]
COLUMNS = ["code", "name", "stage", "industry", "phone", "email", "tags", "contact.name", "contact.mobile",
           "contact.email", "address.line1", "address.city"]


def write_file(path: Path, rows: int) -> None:
    rnd = random.Random(rows)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for i in range(rows):
            city = rnd.choice(CITIES)
            out.writerow([f"B{i:07d}", f"{city}{rnd.choice(SURNAMES)}{rnd.choice(WORDS)}{i}有限公司",
                          rnd.choice(["lead", "prospect", "customer"]), rnd.choice(WORDS),
                          f"0571-{8000_0000 + i}", f"info{i}@bench.example.cn",
                          ";".join(rnd.sample(["VIP", "华东", "批发", "电商", "零售"], 2)),
                          f"{rnd.choice(SURNAMES)}经理", f"139{i:08d}", f"c{i}@bench.example.cn",
                          f"{city}市{rnd.choice(WORDS)}路{i % 999 + 1}号", city])


def prepare(rt: Any, rows: int) -> None:
    """Nothing to set up: customers come first."""


def baseline(rt: Any, path: Path) -> float:
    """The same rows, derived fields, audit and outbox written by hand with executemany, batches of 1,000."""
    from sqlalchemy import insert, select

    from crmcore.db import utcnow
    from crmcore.models import Address, Contact, Customer, Tag
    from crmcore.models.customer import customer_tags
    from crmcore.normalize import company_key, fold, normalize_email, normalize_phone, search_text
    from crmcore.services.completeness import completeness

    region = rt.settings["DEFAULT_REGION"]
    tag_ids: dict[str, int] = {}

    def write(session: Any, recorder: Baseline, batch: list[dict[str, str]]) -> None:
        now = utcnow()
        names = {t for row in batch for t in row["tags"].split(";")} - set(tag_ids)
        if names:
            session.execute(insert(Tag.__table__), [{"name": n} for n in sorted(names)])
            tag_ids.update({n: i for n, i in session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names)))})
        customers = []
        for row in batch:
            name = row["name"]
            key = company_key(name) or None
            c = {"code": fold(row["code"]), "name": name, "kind": "organization", "stage": row["stage"],
                 "industry": row["industry"], "phone": row["phone"], "email": row["email"], "currency": "CNY",
                 "phone_normalized": normalize_phone(row["phone"], region), "email_normalized": normalize_email(row["email"]),
                 "name_key": key, "search_text": search_text(name, row["code"], key), "attributes": {},
                 "version": 1, "created_at": now, "updated_at": now}
            view = SimpleNamespace(**c, contacts=[row], addresses=[row], tags=row["tags"], owner_id=None, level=None,
                                   source_channel=None, website=None, credit_limit=None)
            view.contacts = [SimpleNamespace(phone=None, mobile=row["contact.mobile"], email=row["contact.email"])]
            c["completeness"] = completeness(view, [], labels=False)[0]
            customers.append(c)
        ids = insert_ids(session, Customer.__table__, customers)
        contacts, addresses, links = [], [], []
        for row, cid in zip(batch, ids, strict=True):
            contacts.append({"customer_id": cid, "name": row["contact.name"], "mobile": row["contact.mobile"],
                             "email": row["contact.email"], "is_primary": False,
                             "mobile_normalized": normalize_phone(row["contact.mobile"], region),
                             "email_normalized": normalize_email(row["contact.email"]), "attributes": {},
                             "version": 1, "created_at": now, "updated_at": now})
            addresses.append({"customer_id": cid, "line1": row["address.line1"], "city": row["address.city"],
                              "kind": "office", "country": "CN", "is_primary": False, "created_at": now})
            links += [{"customer_id": cid, "tag_id": tag_ids[t]} for t in row["tags"].split(";")]
        contact_ids = insert_ids(session, Contact.__table__, contacts)
        address_ids = insert_ids(session, Address.__table__, addresses)
        session.execute(insert(customer_tags), links)
        for c, cid, contact, contact_id, address, address_id in zip(customers, ids, contacts, contact_ids,
                                                                    addresses, address_ids, strict=True):
            recorder.change("customer", "created", cid, {k: [None, c[k]] for k in (
                "code", "name", "stage", "industry", "phone", "email")}, {})
            recorder.change("contact", "created", contact_id, {k: [None, contact[k]] for k in (
                "name", "mobile", "email")}, {"customer_id": cid})
            recorder.change("address", "created", address_id, {k: [None, address[k]] for k in (
                "line1", "city")}, {"customer_id": cid})

    return timed(rt, path, write)


def main(argv: list[str] | None = None) -> int:
    args = arguments("import_customers", argv)
    return measure("import_customers", args, "customers", write_file, prepare, baseline)


if __name__ == "__main__":
    raise SystemExit(main())
