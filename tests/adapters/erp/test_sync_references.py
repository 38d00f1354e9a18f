"""A page's records point to customers, products, orders and invoices by their ERP ids: the engine reads
those links in one query per entity for the whole page, not one per record or per order line."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import event, select

from adapters.erp.base import OrderItem, SalesOrderRecord
from adapters.erp.connections import save_connection
from adapters.erp.sync import Counts, SyncHelper, apply_page, references
from crmcore.models import ExternalRef
from crmcore.services import customers as customer_svc
from crmcore.services.unit import unit_of_work
from plugins.sales.models import Order
from plugins.sales.services import catalog


def order(n: int, customer: str, products: list[str]) -> SalesOrderRecord:
    return SalesOrderRecord(external_id=f"SO{n}", number=f"SO-{n:04d}", customer_ref=customer,
                            order_date=dt.date(2026, 11, 2), currency="CNY", total=Decimal(len(products) * 10),
                            lines=[OrderItem(external_id=f"SO{n}-{i}", product_ref=p, description=p,
                                             quantity=Decimal(1), unit_price=Decimal(10), line_total=Decimal(10))
                                   for i, p in enumerate(products)])


def test_references_lists_every_link_of_records_and_their_lines():
    got = references([order(1, "P1", ["X1", "X2"]), order(2, "P2", ["X2", ""])])
    assert got == {"customer": ["P1", "P2"], "product": ["X1", "X2", "X2"]}


def test_an_order_page_reads_its_links_in_a_few_queries(ctx, tmp_path):
    conn = save_connection(ctx, {"name": "drop", "adapter": "csv", "settings": {"directory": str(tmp_path)}})
    helper = SyncHelper(ctx, conn, "orders")
    with unit_of_work(ctx):
        for i in range(5):
            c = customer_svc.create_customer(ctx, {"name": f"Ref Customer {i}"})
            helper.link("customer", c.id, f"P{i}")
            p = catalog.create_product(ctx, {"code": f"X{i}", "name": f"Thing {i}", "list_price": "10"})
            helper.link("product", p.id, f"X{i}")
    helper.forget()
    records = [order(n, f"P{n % 5}", [f"X{(n + k) % 5}" for k in range(3)]) for n in range(20)]

    selects: list[str] = []

    def spy(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "external_refs" in statement:
            selects.append(statement)

    engine = ctx.session.get_bind()
    event.listen(engine, "before_cursor_execute", spy)
    try:
        counts = Counts()
        with unit_of_work(ctx):
            apply_page(ctx, helper, "orders", [(r, r.fingerprint()) for r in records], counts)
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert counts.created == 20 and counts.failed == 0
    assert ctx.session.scalar(select(Order).where(Order.number == "SO-0007")).lines[0].product_id is not None
    # resolving ERP ids: the orders' own links, their customers', their products' (one query each), not
    # 20 + 20 + 60; linking the new orders: one query for the highest linked order id, not one each
    by_external_id = [s for s in selects if "external_refs.external_id IN" in s or "external_refs.external_id ="
                      in s]
    assert len(by_external_id) == 3, by_external_id
    assert len(selects) == 3 + 1, selects
    assert len(ctx.session.scalars(select(ExternalRef).where(ExternalRef.entity == "order")).all()) == 20


def test_a_stale_link_of_a_reused_crm_id_is_repointed_not_doubled(ctx, tmp_path):
    """A link left behind by a deleted record whose CRM id came back (SQLite reuses the highest id):
    linking the new record moves that link instead of adding a second one for the same CRM id."""
    conn = save_connection(ctx, {"name": "drop", "adapter": "csv", "settings": {"directory": str(tmp_path)}})
    helper = SyncHelper(ctx, conn, "customers")
    with unit_of_work(ctx):
        c = customer_svc.create_customer(ctx, {"name": "Reused Id Ltd"})
        ctx.session.add(ExternalRef(system="drop", entity="customer", entity_id=c.id, external_id="OLD"))
    helper.forget()
    with unit_of_work(ctx):
        helper.link("customer", c.id, "NEW")
    refs = ctx.session.scalars(select(ExternalRef).where(ExternalRef.entity == "customer")).all()
    assert [(r.entity_id, r.external_id) for r in refs] == [(c.id, "NEW")]
