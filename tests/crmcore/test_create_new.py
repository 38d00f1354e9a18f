"""``crmcore.imports.customers.create_new`` (the import's set-based create, used by the ERP sync) gives each
customer, contact and address what the one-by-one services give them, and answers per item: a refused item
writes nothing and keeps none of the others from being written."""
from __future__ import annotations

from sqlalchemy import func, select

from crmcore.errors import ValidationError
from crmcore.imports.customers import NewCustomer, create_new
from crmcore.models import AuditLog, Customer
from crmcore.services import contacts as contact_svc
from crmcore.services import customers as customer_svc

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
    """(entity, action, changes without the code) of the audit entries about a customer and its rows."""
    ids = {("customer", str(customer.id))} | {("contact", str(c.id)) for c in customer.contacts} | {
        ("address", str(a.id)) for a in customer.addresses}
    rows = [a for a in ctx.session.scalars(select(AuditLog).order_by(AuditLog.id)) if (a.entity, a.entity_id) in ids]
    return [(a.entity, a.action, {k: v for k, v in a.changes.items() if k != "code"}, a.source) for a in rows]


def test_create_new_gives_what_the_services_give_one_by_one(ctx):
    single = one_by_one(ctx, item(1))
    [made] = create_new(ctx, [item(2)])
    assert isinstance(made, NewCustomer) and made.code == "B2" and len(made.contact_ids) == len(made.address_ids) == 1
    ctx.session.expire_all()
    single, batch = ctx.session.get(Customer, single.id), ctx.session.get(Customer, made.id)
    for field in DERIVED:
        a, b = getattr(single, field), getattr(batch, field)
        assert (a.replace("b1", "b2") if field == "search_text" else a) == b, field
    assert [c.id for c in batch.contacts] == made.contact_ids and [a.id for a in batch.addresses] == made.address_ids
    assert [(a.line1, a.country, a.is_primary) for a in batch.addresses] == [("浦东大道 100 号", "CN", True)]
    assert trail(ctx, batch) == trail(ctx, single)


def test_each_item_is_answered_alone(ctx):
    bad_contact = item(4)
    bad_contact["contacts"][0]["email"] = "not-an-address"
    customer_svc.create_customer(ctx, {"name": "Holds A Code", "code": "HELD"})
    outcomes = create_new(ctx, [item(3), bad_contact, {**item(5), "code": None}, {**item(6), "code": "ＨＥＬＤ"},
                                {**item(7), "code": "B7"}, {**item(8), "code": "B7"}, {"code": "B9"}])
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["NewCustomer", "ValidationError", "ValidationError", "ValidationError", "NewCustomer",
                     "ValidationError", "ValidationError"]
    assert all(isinstance(o, ValidationError) for o in outcomes[1:4] + outcomes[5:])
    assert "contacts.0.email" in outcomes[1].errors and "code" in outcomes[2].errors
    assert "code" in outcomes[3].errors and "code" in outcomes[5].errors  # held by an earlier item / customer
    assert "name" in outcomes[6].errors
    assert sorted(ctx.session.scalars(select(Customer.code))) == ["B3", "B7", "HELD"]
    assert ctx.session.scalar(select(func.count()).select_from(AuditLog)) == 7  # HELD, two customers and their rows
