"""Price lists: saving new items replaces the old ones, including a new price for a product already listed."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from crmcore.models import AuditLog
from plugins.sales.models import PriceListItem
from plugins.sales.services import catalog


def test_a_new_price_for_a_listed_product_updates_its_item(ctx):
    p1 = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100"})
    p2 = catalog.create_product(ctx, {"code": "P2", "name": "Toner", "list_price": "40"})
    p3 = catalog.create_product(ctx, {"code": "P3", "name": "Paper", "list_price": "5"})
    pl = catalog.save_price_list(ctx, {"name": "Dealers", "items": [{"product_id": p1.id, "price": "90"},
                                                                    {"product_id": p2.id, "price": "38"}]})
    first_item = next(i.id for i in pl.items if i.product_id == p1.id)

    # P1 changes price (this used to fail on the unique key), P2 leaves the list, P3 joins it
    pl = catalog.save_price_list(ctx, {"items": [{"product_id": p1.id, "price": "85"},
                                                 {"product_id": p3.id, "price": "4.5"}]}, pl.id)

    rows = ctx.session.execute(select(PriceListItem.id, PriceListItem.product_id, PriceListItem.price).where(
        PriceListItem.price_list_id == pl.id).order_by(PriceListItem.product_id)).all()
    assert [(r.product_id, r.price) for r in rows] == [(p1.id, Decimal("85.00")), (p3.id, Decimal("4.50"))]
    assert rows[0].id == first_item  # updated in place, not deleted and inserted again
    assert catalog.price_of(ctx, p1, pl) == (Decimal("85.00"), pl.currency)
    assert catalog.price_of(ctx, p2, pl) == (Decimal("40.00"), p2.currency)  # back to its own list price

    audits = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "price_list",
                                                        AuditLog.entity_id == str(pl.id)).order_by(AuditLog.id)).all()
    assert [a.action for a in audits] == ["created", "updated"]
    before, after = audits[-1].changes["items"]
    assert before == {str(p1.id): "90.00", str(p2.id): "38.00"}
    assert after == {str(p1.id): "85.00", str(p3.id): "4.50"}


def test_saving_the_same_items_again_changes_nothing(ctx):
    p1 = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100"})
    pl = catalog.save_price_list(ctx, {"name": "Retail", "items": [{"product_id": p1.id, "price": "99"}]})
    catalog.save_price_list(ctx, {"items": [{"product_id": p1.id, "price": "99.00"}]}, pl.id)
    actions = ctx.session.scalars(select(AuditLog.action).where(AuditLog.entity == "price_list")).all()
    assert actions == ["created"]
    assert [(i.product_id, i.price) for i in pl.items] == [(p1.id, Decimal("99.00"))]


def test_set_price_changes_one_item_and_audits_only_it(ctx):
    """What the ERP sync uses per price: the other items are neither rewritten nor audited again."""
    import pytest

    from crmcore.errors import ValidationError

    p1 = catalog.create_product(ctx, {"code": "P1", "name": "Printer", "list_price": "100"})
    p2 = catalog.create_product(ctx, {"code": "P2", "name": "Toner", "list_price": "40"})
    pl = catalog.save_price_list(ctx, {"name": "Dealers", "items": [{"product_id": p1.id, "price": "90"}]})
    kept = pl.items[0].id

    item, action = catalog.set_price(ctx, pl.id, p2.id, "38")
    assert action == "created" and (item.product_id, item.price) == (p2.id, Decimal("38.00"))
    item, action = catalog.set_price(ctx, pl.id, p1.id, "85.5")
    assert action == "updated" and item.id == kept and item.price == Decimal("85.50")
    assert catalog.set_price(ctx, pl.id, p1.id, "85.50")[1] == "unchanged"
    with pytest.raises(ValidationError):
        catalog.set_price(ctx, pl.id, p1.id, "eighty")
    with pytest.raises(ValidationError):
        catalog.set_price(ctx, pl.id, 999999, "1")

    ctx.session.expire_all()
    assert {i.product_id: i.price for i in ctx.session.get(type(pl), pl.id).items} == {
        p1.id: Decimal("85.50"), p2.id: Decimal("38.00")}
    audits = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "price_list").order_by(AuditLog.id)).all()
    assert [(a.action, a.changes.get("items")) for a in audits[1:]] == [
        ("updated", [{}, {str(p2.id): "38.00"}]), ("updated", [{str(p1.id): "90.00"}, {str(p1.id): "85.50"}])]
