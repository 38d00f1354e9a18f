"""Pushing CRM changes to a real Tryton: customers and confirmed quotes, idempotent, and never blocked
by an ERP that is down or slow (the outbox keeps the change and retries with backoff)."""
from __future__ import annotations

import socket
import threading
from decimal import Decimal

from sqlalchemy import func, select

from adapters.erp.connections import save_connection
from adapters.erp.push import push_pending
from adapters.erp.runner import run_sync
from crmcore.db import utcnow
from crmcore.models import Customer, ExternalRef, OutboxMessage
from crmcore.services import contacts as contact_svc
from crmcore.services import customers as customer_svc
from plugins.sales.models import Order, Product
from plugins.sales.services import quotes as quote_svc

from .conftest import connect
from .tryton.server import free_port


def erp_messages(ctx):
    return ctx.session.scalars(select(OutboxMessage).where(OutboxMessage.destination == "erp")
                               .order_by(OutboxMessage.id)).all()


def test_customer_and_confirmed_quote_become_a_party_and_a_sale(ctx, tryton, seed):
    widget = seed.product("Widget", "W-9", "20.00")
    connect(ctx, tryton)
    run_sync(ctx, streams=["products"])
    product = ctx.session.scalar(select(Product).where(Product.code == "W-9"))

    customer = customer_svc.create_customer(ctx, {"name": "杭州新客户有限公司", "phone": "+86 571 8888 0000",
                                                  "email": "buy@newco.cn"})
    contact_svc.add_address(ctx, customer.id, {"line1": "西湖路 8 号", "city": "杭州", "postcode": "310000"})
    quote = quote_svc.create_quote(ctx, {"customer_id": customer.id, "currency": "CNY",
                                         "lines": [{"product_id": product.id, "quantity": 3}]})
    quote_svc.submit_quote(ctx, quote.id)
    order = quote_svc.convert_to_order(ctx, quote.id)
    assert {m.topic for m in erp_messages(ctx)} >= {"customer.created", "address.created", "sales.order.created"}

    counts = push_pending(ctx)
    assert counts["delivered"] == len(erp_messages(ctx)) and counts["retry"] == 0
    [party] = seed.search_read("party.party", [("identifiers.code", "=", f"CRM:{customer.code}")],
                               ["name", "contact_mechanisms", "addresses"])
    assert party["name"] == "杭州新客户有限公司" and len(party["addresses"]) == 1
    values = {m["value"] for m in seed.search_read("party.contact_mechanism", [("party", "=", party["id"])], ["value"])}
    assert values == {"+86 571 8888 0000", "buy@newco.cn"}
    [sale] = seed.search_read("sale.sale", [("reference", "=", order.number)],
                              ["party", "state", "total_amount", "lines"])
    assert sale["party"] == party["id"] and sale["state"] in ("confirmed", "processing")
    assert Decimal(sale["total_amount"]["decimal"]) == Decimal("60.00")
    assert widget  # the sale line is the synced product

    # delivered again (at least once): found by the CRM reference, nothing created twice
    for msg in erp_messages(ctx):
        msg.status = "pending"
    ctx.session.query(ExternalRef).delete()
    ctx.session.commit()
    push_pending(ctx)
    assert len(seed.search_read("party.party", [("identifiers.code", "=", f"CRM:{customer.code}")], ["id"])) == 1
    assert len(seed.search_read("sale.sale", [("reference", "=", order.number)], ["id"])) == 1

    # pulling afterwards links the ERP's copies to the CRM's records instead of duplicating them
    [result] = run_sync(ctx)
    assert result.errors == {}
    assert ctx.session.scalar(select(func.count()).select_from(Customer)) == 1
    assert ctx.session.scalar(select(func.count()).select_from(Order)) == 1
    assert ctx.session.scalar(select(ExternalRef.entity_id).where(ExternalRef.entity == "order")) == order.id
    # the pull's own writes are not pushed back (no echo)
    assert all(m.status == "delivered" for m in erp_messages(ctx))
    assert push_pending(ctx) == {"delivered": 0, "retry": 0, "dead": 0}

    # a changed phone replaces the party's phone (not a second one), so the next pull agrees
    customer_svc.update_customer(ctx, customer.id, {"phone": "+86 571 8888 9999"})
    assert push_pending(ctx)["delivered"] == 1
    phones = [m["value"] for m in seed.search_read("party.contact_mechanism", [("party", "=", party["id"]),
                                                                               ("type", "=", "phone")], ["value"])]
    assert phones == ["+86 571 8888 9999"]
    run_sync(ctx, streams=["customers"])
    from adapters.erp.models import SyncIssue

    assert ctx.session.scalar(select(func.count()).select_from(SyncIssue).where(SyncIssue.kind == "conflict")) == 0


def silent_server() -> tuple[int, threading.Event]:
    """A TCP server that accepts connections and never answers: a hung ERP."""
    stop = threading.Event()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held = []

    def loop() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue
        for conn in held:
            conn.close()
        sock.close()

    threading.Thread(target=loop, daemon=True).start()
    return sock.getsockname()[1], stop


def test_erp_down_or_slow_never_blocks_crm_users(ctx, tryton, seed):
    conn = connect(ctx, tryton, settings={"url": f"http://127.0.0.1:{free_port()}"})  # nothing listens there
    customer = customer_svc.create_customer(ctx, {"name": "Offline Buyer", "email": "o@buyer.example"})
    assert ctx.session.get(Customer, customer.id) is not None  # the user's write is done, whatever the ERP
    counts = push_pending(ctx)
    [msg] = erp_messages(ctx)
    assert counts == {"delivered": 0, "retry": 1, "dead": 0}
    assert msg.status == "pending" and "did not answer" in msg.last_error and msg.next_attempt_at > utcnow()
    assert push_pending(ctx)["retry"] == 0  # backoff: not tried again before its time

    port, stop = silent_server()
    try:
        save_connection(ctx, {"settings": {**conn.settings, "url": f"http://127.0.0.1:{port}"}, "timeout_seconds": 1},
                        conn.name)
        msg.next_attempt_at = utcnow()
        ctx.session.commit()
        assert push_pending(ctx)["retry"] == 1
        ctx.session.refresh(msg)
        assert "ReadTimeout" in msg.last_error and msg.status == "pending"
    finally:
        stop.set()

    save_connection(ctx, {"settings": {**conn.settings, "url": f"http://127.0.0.1:{tryton.port}"}}, conn.name)
    msg.next_attempt_at = utcnow()
    ctx.session.commit()
    assert push_pending(ctx)["delivered"] == 1
    assert len(seed.search_read("party.party", [("identifiers.code", "=", f"CRM:{customer.code}")], ["id"])) == 1


def test_an_orders_line_discount_and_coupon_reach_tryton_in_its_prices(ctx, tryton, seed):
    """Tryton's sale has no discount of its own: each line goes at its net price (its line discount and its
    share of the coupon's taken off), so the ERP's sale comes to the CRM order's total."""
    from plugins.sales.services import coupons, orders

    seed.product("Widget", "W-7", "20.00")
    seed.product("Gadget", "G-7", "30.00")
    connect(ctx, tryton)
    run_sync(ctx, streams=["products"])
    widget, gadget = (ctx.session.scalar(select(Product).where(Product.code == code)) for code in ("W-7", "G-7"))
    customer = customer_svc.create_customer(ctx, {"name": "Coupon Buyer", "email": "c@buyer.example"})
    contact_svc.add_address(ctx, customer.id, {"line1": "1 Main St", "city": "Hangzhou"})
    programme = coupons.save_programme(ctx, {"name": "Ten off", "amount": "10", "product_ids": [gadget.id]})
    code = coupons.issue_coupon(ctx, programme.id, customer.id, source="test").code
    order = orders.record_order(ctx, {
        "number": "SO-COUPON-1", "customer_id": customer.id, "order_date": "2026-12-01", "currency": "CNY",
        "coupon_code": code, "lines": [{"product_id": widget.id, "quantity": "3", "unit_price": "20",
                                        "discount_percent": "10"},  # 54.00
                                       {"product_id": gadget.id, "quantity": "3", "unit_price": "30"}]})  # 90 - 10
    assert order.total == Decimal("134.00") and order.coupon_discount == Decimal("10.00")
    push_pending(ctx)
    [sale] = seed.search_read("sale.sale", [("reference", "=", order.number)], ["total_amount", "lines"])
    assert Decimal(sale["total_amount"]["decimal"]) == Decimal("134.00")
    # the ERP's copy read back: linked to the CRM order, which keeps its coupon, its discount and its total
    [result] = run_sync(ctx, streams=["orders"])
    assert result.errors == {}
    ctx.session.expire_all()
    again = ctx.session.get(Order, order.id)
    assert (again.coupon_code, again.coupon_discount, again.total) == (code, Decimal("10.00"), Decimal("134.00"))
    assert coupons.usage(ctx, programme.id)[0]["redeemed"] == 1
