"""``customer_batch.create_customers`` gives each customer, contact and address exactly what the
one-by-one services give them: derived fields, completeness, audit entry, outbox rows and event."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crmcore.errors import ValidationError
from crmcore.models import AuditLog, Customer, Tag
from crmcore.services import contacts as contact_svc
from crmcore.services import customers as customer_svc
from crmcore.services.customer_batch import create_customers

DERIVED = ("name", "phone", "phone_normalized", "email_normalized", "name_key", "search_text", "completeness",
           "stage", "source_channel")


def item(n: int) -> dict:
    return {"name": "上海艾克美贸易有限公司", "code": f"B{n}", "phone": "021 6888 1234", "email": "Info@Example.cn",
            "stage": "customer", "source_channel": "erp",
            "contacts": [{"name": "王经理", "mobile": "138 0013 8000", "email": "wang@example.cn"}],
            "addresses": [{"line1": "浦东大道 100 号", "city": "上海", "country": "cn", "is_primary": True}]}


def one_by_one(ctx, data: dict) -> Customer:
    data = dict(data)
    contacts, addresses = data.pop("contacts"), data.pop("addresses")
    customer = customer_svc.create_customer(ctx, data)
    for c in contacts:
        contact_svc.create_contact(ctx, customer.id, c)
    for a in addresses:
        contact_svc.add_address(ctx, customer.id, a)
    return customer


def trail(ctx, customer: Customer) -> list[tuple]:
    """(entity, action, changes without ids) of the audit entries about a customer and its rows."""
    ids = {("customer", str(customer.id))} | {("contact", str(c.id)) for c in customer.contacts} | {
        ("address", str(a.id)) for a in customer.addresses}
    rows = [a for a in ctx.session.scalars(select(AuditLog).order_by(AuditLog.id)) if (a.entity, a.entity_id) in ids]
    return [(a.entity, a.action, {k: v for k, v in a.changes.items() if k != "code"}, a.source) for a in rows]


def test_a_batch_gives_what_the_services_give_one_by_one(ctx):
    single = one_by_one(ctx, item(1))
    [batch] = create_customers(ctx, [item(2)])
    ctx.session.expire_all()
    single, batch = ctx.session.get(Customer, single.id), ctx.session.get(Customer, batch.id)
    for field in DERIVED:
        a, b = getattr(single, field), getattr(batch, field)
        assert (a.replace("b1", "b2") if field == "search_text" else a) == b, field
    assert "aikemei" in batch.search_text and batch.phone_normalized == "+862168881234" and batch.code == "B2"
    assert [(c.name, c.mobile_normalized, c.email_normalized) for c in batch.contacts] == [
        (c.name, c.mobile_normalized, c.email_normalized) for c in single.contacts]
    assert [(a.line1, a.country, a.is_primary) for a in batch.addresses] == [("浦东大道 100 号", "CN", True)]
    assert trail(ctx, batch) == trail(ctx, single)
    assert [e for e, *_rest in trail(ctx, batch)] == ["customer", "contact", "address"]


def test_one_invalid_item_writes_nothing(ctx):
    bad = item(4)
    bad["contacts"][0]["email"] = "not-an-address"
    with pytest.raises(ValidationError):
        create_customers(ctx, [item(3), bad])
    with pytest.raises(ValidationError):
        create_customers(ctx, [item(5), {**item(6), "code": None}])  # as create_customer: an empty code is refused
    assert ctx.session.scalar(select(func.count()).select_from(Customer)) == 0
    assert ctx.session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_items_naming_the_same_new_tag_share_it(ctx):
    first, second = create_customers(ctx, [{**item(7), "tags": ["VIP", "华东"]}, {**item(8), "tags": ["华东"]}])
    assert ctx.session.scalar(select(func.count()).select_from(Tag)) == 2
    assert [t.name for t in second.tags] == ["华东"] and second.tags[0] is first.tags[1]
