"""``GET /api/v1/customers/<id>`` reads the customer by Core statements (``customers.read_customer``, issue 15's
read overhead): its answer must be the one the ORM path gives (``get_customer`` dumped by the same schema), for
every shape of customer, and its errors the same."""
from __future__ import annotations

import decimal

import pytest

from crmcore.api.customers import dump
from crmcore.models import Role
from crmcore.schemas.customers import CustomerSchema
from crmcore.services import contacts, custom_fields, customers as svc, dedupe


def _orm_answer(rt, actor, customer_id):
    """The answer as the ORM path builds it: ``get_customer``, its score and missing labels, the schema's dump."""
    session = rt.db.session()
    try:
        ctx = rt.context(actor=session.merge(actor) if actor is not None else None, source="api", session=session)
        customer = svc.get_customer(ctx, customer_id)
        body = CustomerSchema().dump(dump(ctx, customer))
        return body, f'"customers-{customer.id}-v{customer.version}"'
    finally:
        session.close()


@pytest.fixture
def shapes(ctx, make_user):
    """Customers of every shape the answer has: bare, full, several contacts and addresses (ids out of name
    order), tags out of alphabetical order, custom field values present and missing, a decimal credit limit,
    an owner, after an update (version 2)."""
    owner, _ = make_user("sales", team="East")
    custom_fields.create_field(ctx, {"entity": "customer", "name": "tier", "label": "客户等级", "type": "choice",
                                     "choices": ["A", "B"]})
    custom_fields.create_field(ctx, {"entity": "customer", "name": "founded", "label": "成立日期", "type": "date"})
    ids = [svc.create_customer(ctx, {"name": "只有名字"}).id]
    full = svc.create_customer(ctx, {
        "name": "杭州西湖茶业有限公司", "kind": "organization", "stage": "customer", "level": "A",
        "source_channel": "referral", "industry": "茶叶", "website": "https://tea.example", "phone": "0571-8765 4321",
        "email": "Sales@Tea.Example", "credit_limit": decimal.Decimal("12345.5"), "currency": "USD",
        "notes": "<b>不要转义我</b> & co", "owner_id": owner.id, "tags": ["重点", "VIP", "a-tag"],
        "attributes": {"tier": "B", "founded": "2001-02-03"}})
    for i, name in enumerate(["王五", "Adam", "张三"]):
        contacts.create_contact(ctx, full.id, {"name": name, "mobile": f"1380013800{i}", "is_primary": i == 1,
                                               "email": f"c{i}@tea.example", "attributes": {}})
    contacts.add_address(ctx, full.id, {"line1": "西湖区 1 号", "city": "杭州", "kind": "billing"})
    contacts.add_address(ctx, full.id, {"line1": "Second St 2", "country": "US", "is_primary": True})
    ids.append(full.id)
    updated = svc.create_customer(ctx, {"name": "Person Two", "kind": "person", "tags": ["z"],
                                        "attributes": {"tier": "A"}})
    svc.update_customer(ctx, updated.id, {"phone": "+86 138 0013 8000", "credit_limit": decimal.Decimal("0")})
    ids.append(updated.id)
    contact_only = svc.create_customer(ctx, {"name": "只有联系人"})
    contacts.create_contact(ctx, contact_only.id, {"name": "李四", "phone": "021-1234 5678"})
    ids.append(contact_only.id)
    ctx.session.commit()
    return ids, owner


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_the_answer_is_the_orm_paths(client, rt, admin_headers, shapes, lang):
    ids, _owner = shapes
    for customer_id in ids:
        r = client.get(f"/api/v1/customers/{customer_id}", headers={**admin_headers, "Accept-Language": lang})
        assert r.status_code == 200, r.json
        with client.application.test_request_context(headers={"Accept-Language": lang}):
            expected, etag = _orm_answer(rt, None, customer_id)
        assert r.json == expected
        assert r.headers["ETag"] == etag
    assert len({tuple(client.get(f"/api/v1/customers/{i}", headers=admin_headers).json) for i in ids}) == 1  # same keys


def test_the_full_customers_details_are_all_there(client, admin_headers, shapes):
    ids, owner = shapes
    body = client.get(f"/api/v1/customers/{ids[1]}", headers=admin_headers).json
    assert body["tags"] == ["VIP", "a-tag", "重点"]
    assert [c["name"] for c in body["contacts"]] == ["王五", "Adam", "张三"]  # by id, as created
    assert [a["line1"] for a in body["addresses"]] == ["西湖区 1 号", "Second St 2"]
    assert body["credit_limit"] == "12345.50" and body["owner_id"] == owner.id
    assert body["attributes"] == {"tier": "B", "founded": "2001-02-03"}
    assert body["notes"] == "<b>不要转义我</b> & co"
    assert body["created_at"].endswith("+00:00")
    bare = client.get(f"/api/v1/customers/{ids[0]}", headers=admin_headers).json
    assert "客户等级" in bare["completeness_missing"] or "tier" in str(bare["completeness_missing"])


def test_a_read_loads_no_customer_through_the_orm(client, admin_headers, shapes, monkeypatch):
    ids, _ = shapes

    def refused(*args, **kwargs):
        raise AssertionError("the ORM path was taken")

    monkeypatch.setattr(svc, "get_customer", refused)
    assert client.get(f"/api/v1/customers/{ids[1]}", headers=admin_headers).status_code == 200


def test_errors_are_the_orm_paths(client, ctx, admin_headers, make_user, make_customer):
    rep, rep_headers = make_user("sales", team="East")
    other, _ = make_user("sales", team="West")
    mine, theirs = make_customer("我的客户", rep).id, make_customer("别人的客户", other).id
    gone = make_customer("已删除").id
    svc.delete_customer(ctx, gone)
    winner, loser = make_customer("合并后").id, make_customer("合并前", rep).id
    dedupe.merge_customers(ctx, winner, loser)
    ctx.session.commit()
    assert client.get(f"/api/v1/customers/{mine}", headers=rep_headers).status_code == 200
    r = client.get(f"/api/v1/customers/{theirs}", headers=rep_headers)
    assert r.status_code == 403 and "scope" in r.json["message"]
    r = client.get(f"/api/v1/customers/{gone}", headers=admin_headers)
    assert r.status_code == 404 and str(gone) in r.json["message"]
    r = client.get(f"/api/v1/customers/{loser}", headers=admin_headers)
    assert r.status_code == 404 and f"merged into customer {winner}" in r.json["message"]
    r = client.get(f"/api/v1/customers/{loser}", headers=rep_headers)  # the winner is not the rep's: not named
    assert r.status_code == 404 and str(winner) not in r.json["message"]
    r = client.get("/api/v1/customers/987654", headers=admin_headers)
    assert r.status_code == 404
    ctx.session.add(Role(name="no_reads", scope="all", permissions=["interaction.read"]))
    ctx.session.commit()
    _reader, no_read_headers = make_user("no_reads")
    r = client.get(f"/api/v1/customers/{mine}", headers=no_read_headers)
    assert r.status_code == 403 and "customer.read" in r.json["message"]


def test_a_team_manager_reads_their_teams_customer(client, make_user, make_customer):
    rep, _ = make_user("sales", team="East")
    _manager, manager_headers = make_user("manager", team="East")
    _outsider, outsider_headers = make_user("manager", team="West")
    customer = make_customer("东区客户", rep)
    assert client.get(f"/api/v1/customers/{customer.id}", headers=manager_headers).status_code == 200
    assert client.get(f"/api/v1/customers/{customer.id}", headers=outsider_headers).status_code == 403
