"""The two WSGI apps the API benchmarks serve under gunicorn: the CRM (``_wsgi:crm()``) and a bare Flask +
SQLAlchemy app (``_wsgi:bare()``) on the same database, serving the same customer rows.

The bare app is the baseline: no authentication, plugins, validation schemas or events; a read returns the
customer with its contacts, addresses and tags as JSON, a write inserts the customer, one audit entry and one
outbox row in one transaction (what the CRM writes for a new customer), as the issue asks.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from typing import Any


def crm() -> Any:
    """The CRM app, as a production web worker builds it (``crmcore.wsgi``: settings from ``CRM_*``, the admin
    pages mounted on first use)."""
    from crmcore.app import create_app

    return create_app(admin="on_first_use")


def crm_api() -> Any:
    """The CRM app of an API-only web process (``crmcore.wsgi_api``: no admin pages)."""
    from crmcore.app import create_app

    return create_app(admin=False)


def bare() -> Any:
    """The baseline app on ``CRM_DATABASE_URL``'s tables."""
    from flask import Flask, abort, jsonify, request
    from sqlalchemy import MetaData, create_engine, insert, select

    url = os.environ["CRM_DATABASE_URL"]
    engine = create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})
    meta = MetaData()
    meta.reflect(engine, only=["customers", "contacts", "addresses", "tags", "customer_tags", "audit_log", "outbox"])
    customers, contacts, addresses = meta.tables["customers"], meta.tables["contacts"], meta.tables["addresses"]
    tags, customer_tags = meta.tables["tags"], meta.tables["customer_tags"]
    audit, outbox = meta.tables["audit_log"], meta.tables["outbox"]
    shown = [c for c in customers.c if c.name not in ("search_text", "name_key", "phone_normalized", "email_normalized")]
    app = Flask("bare")

    def plain(row: Any) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else str(v) if v is not None and k == "credit_limit"
                    else v) for k, v in row._mapping.items()}

    @app.get("/api/v1/customers/<int:customer_id>")
    def get_customer(customer_id: int) -> Any:
        with engine.connect() as conn:
            row = conn.execute(select(*shown).where(customers.c.id == customer_id)).first()
            if row is None:
                abort(404)
            body = plain(row)
            body["contacts"] = [plain(r) for r in conn.execute(select(contacts).where(contacts.c.customer_id == customer_id)
                                                               .order_by(contacts.c.id))]
            body["addresses"] = [plain(r) for r in conn.execute(select(addresses).where(addresses.c.customer_id == customer_id)
                                                                .order_by(addresses.c.id))]
            body["tags"] = list(conn.scalars(select(tags.c.name).join(customer_tags, customer_tags.c.tag_id == tags.c.id)
                                             .where(customer_tags.c.customer_id == customer_id).order_by(tags.c.name)))
        return jsonify(body), 200, {"ETag": f'"customers-{customer_id}-v{row.version}"'}

    @app.post("/api/v1/customers")
    def create_customer() -> Any:
        data = request.get_json()
        now = dt.datetime.now(dt.timezone.utc)
        stamp = now.replace(tzinfo=None) if engine.dialect.name == "sqlite" else now
        values = {"code": data.get("code") or "C" + uuid.uuid4().hex[:8].upper(), "name": data["name"],
                  "kind": data.get("kind", "organization"), "stage": data.get("stage", "lead"), "phone": data.get("phone"),
                  "email": data.get("email"), "currency": "CNY", "attributes": {}, "completeness": 0, "version": 1,
                  "created_at": stamp, "updated_at": stamp}
        event = str(uuid.uuid4())
        with engine.begin() as conn:
            customer_id = conn.execute(insert(customers).values(**values).returning(customers.c.id)).scalar_one()
            changes = {k: [None, v] for k, v in values.items() if k in ("code", "name", "kind", "stage", "phone", "email")}
            conn.execute(insert(audit).values(at=stamp, actor_label="bench", source="api", action="created", entity="customer",
                                              entity_id=str(customer_id), changes=changes, data={}, event_id=event))
            conn.execute(insert(outbox).values(event_id=event, topic="customer.created", destination="webhook",
                                               payload={"id": event, "name": "customer.created", "entity_id": customer_id,
                                                        "data": {"changes": changes}},
                                               idempotency_key=f"{event}:webhook", **_outbox_defaults(outbox, stamp)))
            row = conn.execute(select(*shown).where(customers.c.id == customer_id)).first()
        return json.dumps(plain(row)), 201, {"Content-Type": "application/json"}

    return app


def bare_orm() -> Any:
    """A second baseline: the same bare app on SQLAlchemy's ORM (classes mapped from the tables by automap, the
    collections loaded lazily when the response reads them). Against it the ratio shows what the CRM adds on top
    of the ORM it is built on; against ``bare()`` (Core), what it costs to use an ORM at all."""
    from flask import Flask, abort, jsonify
    from sqlalchemy import create_engine
    from sqlalchemy.ext.automap import automap_base
    from sqlalchemy.orm import sessionmaker

    url = os.environ["CRM_DATABASE_URL"]
    engine = create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})
    base = automap_base()
    base.prepare(autoload_with=engine, reflection_options={
        "only": ["users", "customers", "contacts", "addresses", "tags", "customer_tags"]})
    customer_cls = base.classes.customers
    session_of = sessionmaker(engine)
    hidden = {"search_text", "name_key", "phone_normalized", "email_normalized"}
    app = Flask("bare_orm")

    def plain(obj: Any) -> dict[str, Any]:
        out = {}
        for column in obj.__table__.columns:
            if column.name in hidden:
                continue
            v = getattr(obj, column.name)
            out[column.name] = (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else str(v)
                                if v is not None and column.name == "credit_limit" else v)
        return out

    @app.get("/api/v1/customers/<int:customer_id>")
    def get_customer(customer_id: int) -> Any:
        with session_of() as session:
            customer = session.get(customer_cls, customer_id)
            if customer is None:
                abort(404)
            body = plain(customer)
            body["contacts"] = [plain(c) for c in sorted(customer.contacts_collection, key=lambda c: c.id)]
            body["addresses"] = [plain(a) for a in sorted(customer.addresses_collection, key=lambda a: a.id)]
            body["tags"] = sorted(t.name for t in customer.tags_collection)
        return jsonify(body), 200, {"ETag": f'"customers-{customer_id}-v{customer.version}"'}

    return app


def _outbox_defaults(table: Any, stamp: dt.datetime) -> dict[str, Any]:
    """Values for the outbox columns the CRM fills by default (status, attempts, times), as far as the table has them."""
    known = {"status": "pending", "attempts": 0, "created_at": stamp, "next_attempt_at": stamp, "available_at": stamp}
    return {k: v for k, v in known.items() if k in table.c and not table.c[k].nullable}
