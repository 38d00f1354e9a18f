"""Logistics service KPIs from delivery data (filled by the ERP sync, a carrier or the API):
on-time dispatch, on-time arrival, damage rate, order completion rate, rush-order completion."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from crmcore.db import utcnow
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from ..models import Delivery
from ..schemas import OrderDeliverySchema

FIELDS = ("customer_id", "carrier", "rush", "promised_dispatch_at", "dispatched_at", "promised_arrival_at", "arrived_at",
          "damaged", "completed", "lines")


_SCHEMA = OrderDeliverySchema()


def validate_delivery(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """An order's delivery data checked by ``OrderDeliverySchema`` (an order number and a carrier within the
    model's lengths, times with their zones): the one validation of the API and the service."""
    return load(_SCHEMA, data, partial=False, message=_("The delivery is not valid."))


def record_delivery(ctx: ServiceContext, data: dict[str, Any]) -> Delivery:
    """Create or update (by ``order_number``) the delivery data of an order."""
    ctx.require("service.delivery.write")
    data = validate_delivery(ctx, data)
    number = data["order_number"]
    delivery = ctx.session.scalar(select(Delivery).where(Delivery.order_number == number))
    created = delivery is None
    with unit_of_work(ctx):
        if created:
            delivery = Delivery(order_number=number, lines=[])
            ctx.session.add(delivery)
        changes = {}
        for key in FIELDS:
            if key in data and getattr(delivery, key) != data[key]:
                changes[key] = [getattr(delivery, key), data[key]]
                setattr(delivery, key, data[key])
        ctx.session.flush()
        record_change(ctx, "service_delivery", "created" if created else "updated", delivery.id, changes,
                      data={"order_number": number})
    return delivery


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def kpis(ctx: ServiceContext, start: dt.datetime, end: dt.datetime, now: dt.datetime | None = None) -> dict[str, Any]:
    """KPIs over deliveries promised (or dispatched) in [start, end). Each is a ratio with its counts;
    None when no delivery data exists for it."""
    ctx.require("service.report.read")
    now = now or utcnow()
    when = func.coalesce(Delivery.promised_dispatch_at, Delivery.dispatched_at, Delivery.created_at)
    rows = list(ctx.session.scalars(select(Delivery).where(when >= start, when < end)))
    due_dispatch = [d for d in rows if d.promised_dispatch_at is not None and (d.dispatched_at or d.promised_dispatch_at <= now)]
    on_time_dispatch = [d for d in due_dispatch if d.dispatched_at is not None and d.dispatched_at <= d.promised_dispatch_at]
    arrived = [d for d in rows if d.promised_arrival_at is not None and (d.arrived_at or d.promised_arrival_at <= now)]
    on_time_arrival = [d for d in arrived if d.arrived_at is not None and d.arrived_at <= d.promised_arrival_at]
    delivered = [d for d in rows if d.arrived_at is not None]
    rush = [d for d in rows if d.rush]

    def item(hits: list[Any], total: list[Any]) -> dict[str, Any]:
        return {"value": _rate(len(hits), len(total)), "count": len(hits), "of": len(total)}

    return {
        "deliveries": len(rows),
        "on_time_dispatch": item(on_time_dispatch, due_dispatch),
        "on_time_arrival": item(on_time_arrival, arrived),
        "damage_rate": item([d for d in delivered if d.damaged], delivered),
        "order_completion": item([d for d in rows if d.completed], rows),
        "rush_completion": item([d for d in rush if d.completed], rush),
    }
