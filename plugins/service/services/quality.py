"""Product quality tracking: defect and feedback records linked to product, order and ticket, with
root cause and corrective action; defect rates by product against delivered quantities."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from crmcore.db import utcnow
from crmcore.errors import NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from ..models import Delivery, QualityRecord
from ..schemas import QualityRecordSchema
from .tickets import get_ticket

FIELDS = ("kind", "product_code", "product_name", "order_number", "ticket_id", "customer_id", "quantity", "severity",
          "description", "root_cause", "corrective_action", "state")
_SCHEMA = QualityRecordSchema()


def validate_record(ctx: ServiceContext, data: dict[str, Any], existing: QualityRecord | None) -> dict[str, Any]:
    """A quality record's input checked by ``QualityRecordSchema`` (lengths and choices from the model, a positive
    quantity; all fields for a new record, those given for ``existing``), then the rule across fields: a defect
    is closed with its root cause and corrective action. The one validation of the API and the admin."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        merged = {k: values.get(k, getattr(existing, k, None)) for k in ("kind", "state", "root_cause",
                                                                          "corrective_action")}
        if merged["state"] == "closed" and (merged["kind"] or "defect") == "defect" and not (
                merged["root_cause"] and merged["corrective_action"]):
            return {"state": [_("A defect is closed with its root cause and corrective action.")]}
        return {}

    return load(_SCHEMA, data, partial=existing is not None, message=_("The quality record is not valid."),
                check=check)


def save_record(ctx: ServiceContext, data: dict[str, Any], record_id: int | None = None, now: dt.datetime | None = None) -> QualityRecord:
    """Create or change a quality record; closing a defect needs its root cause and corrective action."""
    ctx.require("service.quality.write")
    rec = ctx.session.get(QualityRecord, record_id) if record_id else QualityRecord(state="open")
    if rec is None:
        raise NotFound(_("No such quality record."))
    data = validate_record(ctx, data, rec if record_id else None)
    merged = {k: data.get(k, getattr(rec, k)) for k in FIELDS}
    merged["kind"] = merged["kind"] or "defect"
    merged["severity"] = merged["severity"] or "minor"
    merged["quantity"] = merged["quantity"] if merged["quantity"] is not None else Decimal(1)
    if data.get("ticket_id") is not None:
        ticket = get_ticket(ctx, data["ticket_id"])
        if merged["customer_id"] is None:
            merged["customer_id"] = ticket.customer_id
        merged["order_number"] = merged["order_number"] or ticket.order_number
    now = now or utcnow()
    with unit_of_work(ctx):
        changes = {}
        for key in FIELDS:
            if merged[key] != getattr(rec, key):
                changes[key] = [getattr(rec, key), merged[key]]
                setattr(rec, key, merged[key])
        if record_id is None:
            rec.reported_at = data.get("reported_at") or now
            ctx.session.add(rec)
        if rec.state == "closed" and rec.closed_at is None:
            rec.closed_at = now
        elif rec.state != "closed":
            rec.closed_at = None
        ctx.session.flush()
        record_change(ctx, "service_quality", "updated" if record_id else "created", rec.id, changes,
                      data={"product_code": rec.product_code, "kind": rec.kind},
                      event_name="service.quality." + ("updated" if record_id else "reported"))
    return rec


def defect_rates(ctx: ServiceContext, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Per product: defects reported in [start, end) (records and affected quantity), units delivered in
    the period (delivery lines ``{"product_code", "quantity"}`` of deliveries arrived, else dispatched,
    in it) and the defect rate = affected quantity / units delivered (None without deliveries)."""
    ctx.require("service.report.read")
    out: dict[str, dict[str, Any]] = {}
    for rec in ctx.session.scalars(select(QualityRecord).where(
            QualityRecord.kind == "defect", QualityRecord.reported_at >= start, QualityRecord.reported_at < end)):
        row = out.setdefault(rec.product_code, {"product_code": rec.product_code, "product_name": rec.product_name,
                                                "defects": 0, "defective_units": Decimal(0), "delivered_units": Decimal(0)})
        row["defects"] += 1
        row["defective_units"] += rec.quantity
        row["product_name"] = row["product_name"] or rec.product_name
    when = func.coalesce(Delivery.arrived_at, Delivery.dispatched_at)
    for d in ctx.session.scalars(select(Delivery).where(Delivery.dispatched_at.is_not(None), when >= start, when < end)):
        for line in d.lines or []:
            code = str(line.get("product_code") or "")
            if not code:
                continue
            row = out.setdefault(code, {"product_code": code, "product_name": line.get("product_name"), "defects": 0,
                                        "defective_units": Decimal(0), "delivered_units": Decimal(0)})
            row["delivered_units"] += Decimal(str(line.get("quantity") or 0))
    for row in out.values():
        row["defect_rate"] = (round(row["defective_units"] / row["delivered_units"], 4)
                              if row["delivered_units"] else None)
    return sorted(out.values(), key=lambda r: (-(r["defect_rate"] or 0), r["product_code"]))
