"""Customer identities: one owner per (platform, account, value); contact fields feed them; duplicates and merge."""
from __future__ import annotations

import pytest

from crmcore.errors import Conflict, ValidationError
from crmcore.models import CustomerIdentity
from crmcore.services import contacts, customers, dedupe, identities


def _customer(ctx, name):
    return customers.create_customer(ctx, {"name": name})


def test_add_find_and_remove(ctx):
    a = _customer(ctx, "Alpha Ltd")
    item = identities.add_identity(ctx, a.id, {"platform": "wechat_openid", "account": "wxapp1", "value": "oOPEN1"})
    assert identities.find_customer(ctx, "wechat_openid", "oOPEN1", "wxapp1").id == a.id
    assert identities.find_customer(ctx, "wechat_openid", "oOPEN1", "wxapp2") is None  # scoped per app id
    assert identities.add_identity(ctx, a.id, {"platform": "wechat_openid", "account": "wxapp1", "value": "oOPEN1"}).id == item.id
    identities.remove_identity(ctx, item.id)
    assert identities.find_customer(ctx, "wechat_openid", "oOPEN1", "wxapp1") is None


@pytest.mark.parametrize("data, field", [
    ({"platform": "wechat_openid", "value": "o1"}, "account"),  # an openid needs its app id
    ({"platform": "qq", "value": "12ab"}, "value"),
    ({"platform": "fax", "value": "1"}, "platform"),
    ({"platform": "weibo", "value": "x" * 129}, "value"),
    ({"platform": "weibo", "value": "  "}, "value"),
])
def test_bad_identity_names_the_field(ctx, data, field):
    a = _customer(ctx, "Alpha Ltd")
    with pytest.raises(ValidationError) as exc:
        identities.add_identity(ctx, a.id, data)
    assert field in exc.value.errors


def test_an_id_of_another_customer_is_a_conflict_naming_it(ctx):
    a, b = _customer(ctx, "Alpha Ltd"), _customer(ctx, "Beta Ltd")
    identities.add_identity(ctx, a.id, {"platform": "wechat_unionid", "value": "uUNION"})
    with pytest.raises(Conflict) as exc:
        identities.add_identity(ctx, b.id, {"platform": "wechat_unionid", "account": "ignored", "value": "uUNION"})
    assert "Alpha Ltd" in str(exc.value)


def test_contact_fields_feed_identities_and_flag_duplicates(ctx):
    a, b = _customer(ctx, "Alpha Ltd"), _customer(ctx, "Gamma Co")
    contacts.create_contact(ctx, a.id, {"name": "Zhang", "wechat": "zhang_wx", "qq": "１２３４５"})
    keys = {(i.platform, i.value) for i in identities.list_identities(ctx, a.id)}
    assert keys == {("wechat_id", "zhang_wx"), ("qq", "12345")}
    contacts.create_contact(ctx, b.id, {"name": "Zhang San", "qq": "12345"})
    found = {c.customer_id: c for c in dedupe.find_duplicates(ctx, a.id)}
    assert b.id in found and "same QQ" in found[b.id].reasons
    assert [c.customer_id for c in dedupe.find_duplicates(ctx, b.id)] == [a.id]


def test_same_wechat_id_is_a_duplicate_and_merge_moves_identities(ctx):
    a, b = _customer(ctx, "Alpha Ltd"), _customer(ctx, "Omega Inc")
    identities.add_identity(ctx, a.id, {"platform": "wechat_unionid", "value": "uU1"})
    contacts.create_contact(ctx, b.id, {"name": "Li", "wechat": "li_wx"})
    identities.add_identity(ctx, b.id, {"platform": "wechat_openid", "account": "wxA", "value": "oB"})
    assert dedupe.find_duplicates(ctx, a.id) == []
    c = _customer(ctx, "Delta")
    contacts.create_contact(ctx, c.id, {"name": "Li", "wechat": "li_wx"})  # same WeChat ID as b's contact
    assert "same WeChat ID" in {x.customer_id: x for x in dedupe.find_duplicates(ctx, b.id)}[c.id].reasons
    summary = dedupe.merge_customers(ctx, a.id, b.id)
    assert summary["moved"]["customer_identities"] == 2
    assert identities.find_customer(ctx, "wechat_openid", "oB", "wxA").id == a.id
    assert {i.customer_id for i in ctx.session.query(CustomerIdentity)} == {a.id}  # li_wx was b's id already


def test_customer_page_shows_identity_labels(ctx):
    a = _customer(ctx, "Alpha Ltd")
    identities.add_identity(ctx, a.id, {"platform": "wecom_external_userid", "account": "ww1", "value": "wmEXT"})
    panels = {p.key: p for group in ctx.hook.crm_customer_panels(ctx=ctx, customer=a) for p in group}
    assert panels["identities"].to_dict()["rows"] == [["WeCom external contact", "wmEXT (ww1)"]]


def test_an_id_of_a_deleted_customer_is_free_again(ctx):
    a, b = _customer(ctx, "Alpha Ltd"), _customer(ctx, "Beta Ltd")
    identities.add_identity(ctx, a.id, {"platform": "weibo", "value": "wb1"})
    customers.delete_customer(ctx, a.id)
    assert identities.add_identity(ctx, b.id, {"platform": "weibo", "value": "wb1"}).customer_id == b.id
