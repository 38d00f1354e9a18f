"""The push side: CRM changes (customers, confirmed orders) go to the ERP through the outbox.

The destination is declared in ``destination.py`` (a web worker imports this module only to deliver). The
outbox row commits with the change, so the ERP being down never blocks a CRM user: the
message waits and is retried with backoff. Each push is idempotent: a record already linked by
``ExternalRef`` is updated, and before creating one the ERP is searched for the CRM's reference
(a push killed between the ERP's create and our commit is found, not created twice).
"""
from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select

from crmcore.errors import AdapterError, FatalAdapterError
from crmcore.models import AuditLog, Customer, OutboxMessage
from crmcore.runtime import ServiceContext

from .base import CreditLimitRecord, ErpUnreachable, OrderItem, SalesOrderRecord, SkippableRecordError
from .connections import build_adapter, list_connections
from .customers import CUSTOMER_FIELDS, customer_record
from .issues import open_issue
from .models import ErpConnection
from .ownership import DESTINATION, empty, load_base, same, save_base
from .sync import SOURCE, SyncHelper

log = logging.getLogger(__name__)


def deliver(ctx: ServiceContext, msg: OutboxMessage) -> None:
    """Push the change of one outbox message to every connection that takes pushes; raise to retry.

    Each connection gets it on its own: one that fails does not hold back the others (those that took
    it are noted on the message, ``delivered_to``, and skipped when it is retried), and a server found
    down in this session is not tried again for a minute (no retry budget spent per message)."""
    payload = msg.payload or {}
    source = ctx.session.scalar(select(AuditLog.source).where(  # by (entity, entity_id): indexed
        AuditLog.entity == str(payload.get("entity")), AuditLog.entity_id == str(payload.get("entity_id")),
        AuditLog.event_id == msg.event_id).limit(1))
    if source == SOURCE:
        return  # the change came from the ERP: pushing it back would echo (messages written before
        # the handler declared ``ignore_sources``)
    msg_id = msg.id
    failures: list[Exception] = []
    took = 0
    for conn in list_connections(ctx, enabled=True):
        msg = ctx.session.get(OutboxMessage, msg_id)
        payload = msg.payload or {}
        if not conn.push_enabled or conn.name in (payload.get("delivered_to") or []):
            continue
        try:
            _deliver_to(ctx, conn, msg.topic, payload)
        except (FatalAdapterError, SkippableRecordError) as exc:
            ctx.session.rollback()
            open_issue(ctx, conn.name, "push", str(payload.get("entity_id")), "push_failed",
                       f"{msg.topic}: {exc}", {"topic": msg.topic, "message_id": msg_id})
            ctx.session.commit()
            failures.append(exc)
        except Exception as exc:  # noqa: BLE001 - retried later; the other connections still get the change
            ctx.session.rollback()
            log.warning("push of %s to %s failed: %s", msg.topic, conn.name, exc)
            failures.append(exc)
        else:
            msg = ctx.session.get(OutboxMessage, msg_id)
            msg.payload = {**(msg.payload or {}), "delivered_to": [*((msg.payload or {}).get("delivered_to") or []),
                                                                   conn.name]}
            ctx.session.commit()  # kept even if another connection fails below
            took += 1
    if failures and took:  # some connections took it: the message waits, the destination is not down
        raise PushIncomplete(f"{type(failures[0]).__name__}: {failures[0]}")
    if failures:
        raise failures[0]


class PushIncomplete(AdapterError):
    """Some connections took a change and others failed: that message is retried, the others go on."""


_DOWN = "erp_down"  # session.info: {connection key: (until, error)} servers found down in this session
DOWN_FOR = 60.0  # seconds a server found down is not tried again by the same session


def _key(conn: ErpConnection) -> str:
    return f"{conn.name}|{sorted((conn.settings or {}).items())}"


def _deliver_to(ctx: ServiceContext, conn: ErpConnection, topic: str, payload: dict[str, Any]) -> None:
    down = ctx.session.info.setdefault(_DOWN, {})
    known = down.get(_key(conn))
    if known is not None and known[0] > time.monotonic():
        raise ErpUnreachable(known[1])
    adapter = build_adapter(ctx, conn)
    try:
        if topic == "sales.order.created":
            push_order(ctx, conn, adapter, int(payload["entity_id"]))
        else:
            data = payload.get("data") or {}
            customer_id = payload["entity_id"] if topic.startswith("customer.") else data.get("customer_id")
            if customer_id is not None:
                push_customer(ctx, conn, adapter, int(customer_id))
    except ErpUnreachable as exc:
        down[_key(conn)] = (time.monotonic() + DOWN_FOR, str(exc))
        raise
    finally:
        adapter.close()


def push_customer(ctx: ServiceContext, conn: ErpConnection, adapter: Any, customer_id: int) -> str | None:
    """Create or update the ERP's copy of a customer; return its external id.

    A new copy gets every value the CRM has, its credit limit too (where the adapter writes them); an
    update sends the fields the CRM owns. A field the ERP changed since the last sync, that the update
    overwrites, is kept in a ``conflict`` sync issue (read with ``adapter.fetch`` where it can)."""
    if "customers" not in adapter.writes:
        return None
    sync = SyncHelper(ctx, conn, "customers")
    customer = ctx.session.get(Customer, customer_id)
    if customer is None or customer.deleted_at is not None or customer.merged_into_id is not None:
        return None
    external_id = sync.external_id("customer", customer.id)
    creating = external_id is None
    record = customer_record(ctx, customer, sync, creating=creating)
    if external_id is None:
        external_id = adapter.find("customers", record)  # pushed before, killed before we linked it?
        if external_id is not None:
            creating = False
            record = customer_record(ctx, customer, sync, creating=False)
    if not creating:
        _keep_erp_edits(ctx, sync, adapter, customer.id, record, external_id)
    external_id = adapter.write("customers", record, external_id)
    sync.link("customer", customer.id, external_id, fingerprint=None)
    pushed = {k: getattr(record, k) for k in CUSTOMER_FIELDS if not empty(getattr(record, k))}
    if (customer.credit_limit is not None and "credit_limits" in adapter.writes
            and (creating or not sync.erp_wins("customer", "credit_limit"))):
        limit = CreditLimitRecord(external_id=external_id, customer_ref=external_id,
                                  credit_limit=customer.credit_limit, currency=customer.currency)
        try:
            adapter.write("credit_limits", limit, external_id)
            pushed["credit_limit"] = customer.credit_limit
        except SkippableRecordError as exc:  # the ERP keeps no credit limits: the CRM's stays (nothing overwrites it)
            open_issue(ctx, conn.name, "push", str(customer.id), "push_failed", f"credit limit: {exc}",
                       {"topic": "customer.credit_limit"}, entity_id=customer.id)
    save_base(ctx, conn.name, "customer", customer.id, pushed)
    ctx.session.flush()
    return external_id


def _keep_erp_edits(ctx: ServiceContext, sync: SyncHelper, adapter: Any, customer_id: int, record: Any,
                    external_id: str) -> None:
    """Before an update overwrites the ERP's copy: each field it sends that the ERP changed since the last
    sync (not its value then, nor the CRM's now) opens a conflict issue with the ERP's value."""
    base = load_base(ctx, sync.system, "customer", customer_id)
    fields = [k for k in CUSTOMER_FIELDS if not empty(getattr(record, k)) and k in base]
    if not fields:
        return
    current = adapter.fetch("customers", external_id)
    if current is None:
        return
    for key in fields:
        erp, crm = getattr(current, key), getattr(record, key)
        if not empty(erp) and not same(erp, base[key]) and not same(erp, crm):
            sync.conflict("customer", customer_id, key, crm, erp, external_id, owner="crm")


def push_order(ctx: ServiceContext, conn: ErpConnection, adapter: Any, order_id: int) -> str | None:
    """Create the ERP's sales order for a CRM order (quoted and confirmed there); return its id."""
    if "orders" not in adapter.writes:
        return None
    sync = SyncHelper(ctx, conn, "orders")
    if sync.external_id("order", order_id) is not None:
        return None  # pulled from this ERP, or pushed already
    data = ctx.hook.crm_sync_export(ctx=ctx, entity="order", entity_id=order_id, sync=sync)
    if not data:
        return None
    customer_ref = sync.external_id("customer", data["customer_id"]) or push_customer(ctx, conn, adapter,
                                                                                       data["customer_id"])
    if customer_ref is None:
        raise SkippableRecordError(f"customer {data['customer_id']} cannot be pushed to {conn.name}")
    lines = []
    for i, line in enumerate(data.get("lines") or []):
        product_ref = sync.external_id("product", line["product_id"]) if line.get("product_id") else None
        lines.append(OrderItem(external_id=str(i), product_ref=product_ref, description=line.get("description") or "",
                               quantity=line["quantity"], unit_price=line["unit_price"],
                               line_total=line.get("line_total")))
    record = SalesOrderRecord(external_id="", number=data["number"], customer_ref=customer_ref,
                              order_date=data.get("order_date"), currency=data.get("currency"), state="confirmed",
                              total=data.get("total"), crm_ref=data["number"], lines=lines)
    external_id = adapter.find("orders", record) or adapter.write("orders", record, None)
    sync.link("order", order_id, external_id, fingerprint=None)
    ctx.session.flush()
    return external_id


def push_pending(ctx: ServiceContext, limit: int = 500) -> dict[str, int]:
    """Deliver the ERP's due outbox messages now (``crm sync run`` does this before pulling): the
    outbox's own delivery, so a message claimed by a worker is never pushed twice."""
    from crmcore.services import outbox

    counts = outbox.deliver_due(ctx, limit=limit, destinations=[DESTINATION])
    return {k: counts[k] for k in ("delivered", "retry", "dead")}
