"""Records deactivated in Tryton (``active`` false) are read and reported like deletions: a ``deleted``
sync issue once, the CRM keeps the customer; archived products are archived in the catalogue."""
from __future__ import annotations

from sqlalchemy import func, select

from adapters.erp.models import SyncIssue
from adapters.erp.runner import run_sync
from crmcore.models import Customer
from plugins.sales.models import Product

from .conftest import connect


def open_deleted(ctx, stream="customers"):
    return ctx.session.scalars(select(SyncIssue).where(SyncIssue.kind == "deleted", SyncIssue.stream == stream,
                                                       SyncIssue.status == "open")).all()


def test_deactivated_parties_and_products(ctx, tryton, seed):
    kept, archived = seed.party("继续合作的客户"), seed.party("Archived Trading", email="old@archived.example")
    never = seed.party("Never Synced Ltd")
    seed.call("model.party.party.write", [never], {"active": False})  # archived before the first sync
    product = seed.product("Old Widget", "OLD-1", "5.00")
    connect(ctx, tryton, streams=["customers", "products"])
    [first] = run_sync(ctx)
    assert first.streams["customers"].created == 2 and first.streams["customers"].skipped == 1
    assert ctx.session.scalar(select(func.count()).select_from(Customer).where(Customer.name == "Never Synced Ltd")) == 0

    seed.call("model.party.party.write", [archived], {"active": False})
    seed.call("model.product.product.write", [product], {"active": False})
    [second] = run_sync(ctx)
    assert second.errors == {} and second.streams["customers"].deleted == 1
    [issue] = open_deleted(ctx)
    assert issue.external_id == str(archived) and "deactivated" in issue.reason
    customer = ctx.session.scalar(select(Customer).where(Customer.name == "Archived Trading"))
    assert issue.entity_id == customer.id and customer.deleted_at is None  # kept: a person decides
    ctx.session.expire_all()
    assert ctx.session.scalar(select(Product.active).where(Product.code == "OLD-1")) is False  # archived
    assert [i.external_id for i in open_deleted(ctx, "products")] == [str(product)]

    [third] = run_sync(ctx)  # reported once
    assert third.streams["customers"].deleted == 0 and len(open_deleted(ctx)) == 1

    seed.call("model.party.party.write", [archived], {"active": True})  # active again: the issue closes
    run_sync(ctx)
    assert open_deleted(ctx) == []
    assert kept
