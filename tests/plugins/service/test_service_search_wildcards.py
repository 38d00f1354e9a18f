"""The ticket search matches what is typed: ``%`` and ``_`` are no wildcards."""
from __future__ import annotations

from plugins.service.services import tickets


def test_percent_and_underscore_are_plain_characters(ctx, make_customer):
    customer = make_customer("Acme")
    tickets.create_ticket(ctx, {"subject": "Refund 50% of order_7", "customer_id": customer.id})
    tickets.create_ticket(ctx, {"subject": "Order 7 late", "customer_id": customer.id})
    assert [t.subject for t in tickets.list_tickets(ctx, q="%")[0]] == ["Refund 50% of order_7"]
    assert [t.subject for t in tickets.list_tickets(ctx, q="ORDER_7")[0]] == ["Refund 50% of order_7"]
    assert [t.subject for t in tickets.list_tickets(ctx, q="order 7")[0]] == ["Order 7 late"]
