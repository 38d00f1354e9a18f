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
