"""What the social plugin does after sales events: social value above the customers, their referral rewards."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.runtime import ServiceContext


def on_sales_events(ctx: ServiceContext, events: list[Any]) -> None:
    from plugins.sales.models import Invoice, Order

    from .rewards import on_paid
    from .value import refresh_for

    customers: set[int] = set()
    invoices: set[int] = set()
    orders: set[int] = set()
    for event in events:
        if event.data.get("customer_id"):
            customers.add(int(event.data["customer_id"]))
        elif event.entity == "invoice" and event.entity_id:
            invoices.add(int(event.entity_id))
        elif event.entity == "order" and event.entity_id:
            orders.add(int(event.entity_id))
    if invoices:
        customers |= {int(c) for c in ctx.session.scalars(select(Invoice.customer_id).where(Invoice.id.in_(invoices)))}
    if orders:
        customers |= {int(c) for c in ctx.session.scalars(select(Order.customer_id).where(Order.id.in_(orders)))}
    if not customers:
        return
    system = ctx.runtime.context(session=ctx.session, source="plugin:social")
    on_paid(system, customers)
    refresh_for(system, customers)
