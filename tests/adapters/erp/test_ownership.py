"""Field ownership against a real Tryton: an absent ERP value never overwrites a CRM value, the CRM pushes
what it has, an edit on both sides is kept in a conflict issue, and a CRM user's edit of a field the ERP
owns is refused (422 naming the connection) instead of being reverted by the next pull."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from adapters.erp.models import SyncIssue
from adapters.erp.ownership import MISSING, decide
from adapters.erp.push import push_pending
from adapters.erp.runner import run_sync
from crmcore.errors import ValidationError
from crmcore.models import Customer
from crmcore.services import customers as customer_svc

from .conftest import connect


def dec(value: str) -> dict:
    return {"__class__": "Decimal", "decimal": value}


def credit(seed, party):
    [row] = seed.search_read("party.party", [("id", "=", party)], ["credit_limit_amount"])
    value = row["credit_limit_amount"]
    return Decimal(value["decimal"]) if value else None


@pytest.mark.parametrize("erp_owns, crm, erp, base, expected", [
    # absent (None / "") from the ERP: never overwrites, unless the ERP owns it, had it, and the CRM did not change it
    (True, Decimal("5000"), None, MISSING, (False, False)),
    (True, Decimal("5000"), None, None, (False, False)),
    (True, Decimal("5000"), None, "5000.00", (True, False)),  # the ERP cleared its own value
    (True, Decimal("6000"), None, "5000.00", (False, True)),  # cleared there, changed here: conflict, keep
    (False, "crm@x.example", "", "erp@x.example", (False, False)),
    # a value fills an empty field, whoever owns it
    (False, None, "erp@x.example", MISSING, (True, False)),
    # the owner wins; the other side's edit since the base is kept in a conflict issue
    (True, "Old Name", "New Name", "Old Name", (True, False)),  # only the ERP changed it
    (True, "CRM Name", "ERP Name", "Old Name", (True, True)),  # both changed it: ERP's wins, CRM's in the issue
    (False, "crm@x.example", "erp@x.example", "old@x.example", (False, True)),
    (False, "crm@x.example", "erp@x.example", MISSING, (False, True)),
    (False, "old@x.example", "erp@x.example", "old@x.example", (True, False)),  # only the ERP changed it
    (False, "crm@x.example", "old@x.example", "old@x.example", (False, False)),  # only the CRM: it stays
    (True, Decimal("5000.00"), Decimal("5000"), MISSING, (False, False)),  # amounts compare as numbers
])
def test_the_rule(erp_owns, crm, erp, base, expected):
    assert decide(erp_owns, crm, erp, base) == expected


def test_a_credit_limit_set_in_the_crm_is_pushed_and_survives_the_pull(ctx, tryton, seed):
    connect(ctx, tryton)
    customer = customer_svc.create_customer(ctx, {"name": "信用额度客户", "credit_limit": "5000"})
    assert push_pending(ctx)["delivered"] == 1
    [party] = seed.search_read("party.party", [("identifiers.code", "=", f"CRM:{customer.code}")], ["id"])
    assert credit(seed, party["id"]) == Decimal("5000.00")  # what the CRM had went with the new party

    [result] = run_sync(ctx)
    assert result.errors == {}
    ctx.session.expire_all()
    assert ctx.session.get(Customer, customer.id).credit_limit == Decimal("5000.00")
    assert ctx.session.scalars(select(SyncIssue)).all() == []

    # the ERP owns the credit limit: its change arrives, and so does its clearing of it
    seed.call("model.party.party.write", [party["id"]], {"credit_limit_amount": dec("8000.00")})
    run_sync(ctx)
    ctx.session.expire_all()
    assert ctx.session.get(Customer, customer.id).credit_limit == Decimal("8000.00")
    seed.call("model.party.party.write", [party["id"]], {"credit_limit_amount": None})
    run_sync(ctx)
    ctx.session.expire_all()
    assert ctx.session.get(Customer, customer.id).credit_limit is None


def test_an_absent_erp_value_never_overwrites_the_crm(ctx, tryton, seed):
    """A party the ERP never gave a credit limit: the CRM's (set before the link) stays, with no issue."""
    party = seed.party("无额度客户")
    conn = connect(ctx, tryton, push_enabled=False, streams=["customers"])
    run_sync(ctx)
    customer = ctx.session.scalar(select(Customer).where(Customer.name == "无额度客户"))
    customer.credit_limit = Decimal("3000.00")  # e.g. set while the customer was not linked yet
    ctx.session.commit()
    conn.streams = []
    ctx.session.commit()
    seed.call("model.party.party.write", [party], {"name": "无额度客户 改"})
    [result] = run_sync(ctx)
    assert result.errors == {}
    ctx.session.expire_all()
    customer = ctx.session.get(Customer, customer.id)
    assert (customer.name, customer.credit_limit) == ("无额度客户 改", Decimal("3000.00"))
    assert ctx.session.scalars(select(SyncIssue)).all() == []


def test_a_crm_edit_of_a_field_the_erp_owns_is_refused_naming_the_connection(ctx, tryton, seed, client,
                                                                               admin_headers):
    seed.party("ERP 拥有名称的客户", email="owner@erp.example")
    connect(ctx, tryton, push_enabled=False)
    run_sync(ctx)
    customer_id = ctx.session.scalar(select(Customer.id).where(Customer.name == "ERP 拥有名称的客户"))
    with pytest.raises(ValidationError) as refused:  # the service refuses it: API, admin and importer alike
        customer_svc.update_customer(ctx, customer_id, {"name": "CRM 改的名字"})
    assert "tryton" in str(refused.value.errors["name"])

    r = client.patch(f"/api/v1/customers/{customer_id}", json={"credit_limit": "100"},
                     headers={**admin_headers, "Accept-Language": "en"})
    assert r.status_code == 422
    assert "ERP connection 'tryton'" in r.json["errors"]["credit_limit"][0]
    r = client.patch(f"/api/v1/customers/{customer_id}", json={"name": "改名"},
                     headers={**admin_headers, "Accept-Language": "zh-CN"})
    assert r.status_code == 422 and "tryton" in r.json["errors"]["name"][0] and "ERP" in r.json["errors"]["name"][0]
    assert "由" in r.json["errors"]["name"][0]  # said in the reader's language
    # a field the CRM owns changes as usual; a customer no ERP has is not locked
    r = client.patch(f"/api/v1/customers/{customer_id}", json={"email": "crm@crm.example"}, headers=admin_headers)
    assert r.status_code == 200
    own = customer_svc.create_customer(ctx, {"name": "只在 CRM 的客户"})
    assert customer_svc.update_customer(ctx, own.id, {"name": "改过的名字"}).name == "改过的名字"
    ctx.session.expire_all()
    assert ctx.session.get(Customer, customer_id).name == "ERP 拥有名称的客户"


def test_an_erp_edit_overwritten_by_a_push_is_kept_in_a_conflict(ctx, tryton, seed):
    party = seed.party("双方都改的客户", email="base@both.example")
    connect(ctx, tryton)
    run_sync(ctx)
    customer = ctx.session.scalar(select(Customer).where(Customer.name == "双方都改的客户"))
    mechanism = seed.search_read("party.contact_mechanism", [("party", "=", party), ("type", "=", "email")],
                                 ["id"])[0]["id"]
    seed.call("model.party.contact_mechanism.write", [mechanism], {"value": "erp-edit@both.example"})
    customer_svc.update_customer(ctx, customer.id, {"email": "crm-edit@both.example"})
    pushed = push_pending(ctx)  # the push runs first: the CRM owns the e-mail
    assert pushed["delivered"] >= 1 and pushed["retry"] == 0

    [issue] = ctx.session.scalars(select(SyncIssue).where(SyncIssue.kind == "conflict")).all()
    assert issue.payload["fields"]["email"] == {"crm": "crm-edit@both.example", "erp": "erp-edit@both.example",
                                                "kept": "crm", "reason": issue.reason}
    assert seed.search_read("party.contact_mechanism", [("id", "=", mechanism)], ["value"])[0]["value"] == \
        "crm-edit@both.example"
    run_sync(ctx)  # both sides agree now; the ERP's edit is still in the open issue
    ctx.session.expire_all()
    assert ctx.session.get(Customer, customer.id).email == "crm-edit@both.example"
    assert ctx.session.get(SyncIssue, issue.id).status == "open"


def test_contact_persons_merge_field_by_field_and_never_lose_an_edit(ctx, tryton, seed):
    from crmcore.models import Contact
    from crmcore.services import contacts as contact_svc

    party = seed.party("联系人客户", contacts=[{"type": "email", "value": "li@v1.example", "name": "李经理"},
                                              {"type": "phone", "value": "13800138000", "name": "李经理"}])
    connect(ctx, tryton, push_enabled=False, streams=["customers"])
    run_sync(ctx)
    contact = ctx.session.scalar(select(Contact).where(Contact.name == "李经理"))
    email, phone = (seed.search_read("party.contact_mechanism", [("party", "=", party), ("type", "=", kind)], ["id"])
                    [0]["id"] for kind in ("email", "phone"))

    seed.call("model.party.contact_mechanism.write", [email], {"value": "li@v2.example"})  # only the ERP
    run_sync(ctx)
    ctx.session.expire_all()
    assert ctx.session.get(Contact, contact.id).email == "li@v2.example"

    contact_svc.update_contact(ctx, contact.id, {"phone": "13900139000"})  # both sides change the phone
    seed.call("model.party.contact_mechanism.write", [phone], {"value": "13700137000"})
    run_sync(ctx)
    ctx.session.expire_all()
    assert ctx.session.get(Contact, contact.id).phone == "13900139000"  # the CRM owns contact persons
    [issue] = ctx.session.scalars(select(SyncIssue).where(SyncIssue.kind == "conflict")).all()
    assert issue.payload["fields"]["phone"]["erp"] == "13700137000" and issue.entity_id == contact.id
