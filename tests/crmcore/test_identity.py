"""Identity resolution: normalising, duplicate finding and reversible merges."""
from __future__ import annotations

import pytest

from crmcore.errors import Conflict, PermissionDenied, ValidationError
from crmcore.models import AuditLog, ExternalRef, Interaction
from crmcore.normalize import company_key, normalize_email, normalize_phone, search_text
from crmcore.services import contacts, customers, dedupe, interactions


@pytest.mark.parametrize("raw, expected", [
    ("138 0013 8000", "+8613800138000"),
    ("+86 138-0013-8000", "+8613800138000"),
    ("００８６ １３８００１３８０００", "+8613800138000"),  # full-width digits fold; 00 is China's exit prefix
    ("１３８００１３８０００", "+8613800138000"),
    ("021-6234 5678", "+862162345678"),
    ("+1 (650) 253-0000", "+16502530000"),
    ("call me", None),
    ("", None),
])
def test_normalize_phone(raw, expected):
    assert normalize_phone(raw, "CN") == expected


def test_company_key_ignores_legal_suffix_width_and_brackets():
    assert company_key("张三商贸有限公司") == company_key("张三商贸(有限公司)") == company_key("张三商贸（有限公司）") == "张三商贸"
    assert company_key("ＡＣＭＥ Trading Co., Ltd.") == company_key("Acme Trading Ltd") == "acmetrading"
    assert normalize_email(" Sales@Example.COM ") == "sales@example.com"
    assert "zssm" in search_text("张三商贸").split()


@pytest.mark.parametrize("name", ["重庆银行", "长沙银行股份有限公司", "行长 Zhang", "〇一二 音乐", "厦门 · 重工"])
def test_search_text_initials_are_pypinyins_first_letters(name):
    """The initials are cut from the syllables (one conversion); they must equal pypinyin's own
    FIRST_LETTER style, polyphones read by phrase (重庆 chongqing, 银行 yinhang) included."""
    from pypinyin import Style, lazy_pinyin

    words = search_text(name).split()
    assert "".join(lazy_pinyin(name.casefold(), errors="ignore")) in words
    assert "".join(lazy_pinyin(name.casefold(), style=Style.FIRST_LETTER, errors="ignore")) in words


def _customer(ctx, **data):
    return customers.create_customer(ctx, {"name": "X", **data})


def test_find_duplicates_by_phone_email_and_name(ctx):
    a = _customer(ctx, name="张三商贸有限公司", phone="13800138000")
    b = _customer(ctx, name="张三商贸(有限公司)")
    c = _customer(ctx, name="Other", email="boss@zs.cn")
    contacts.create_contact(ctx, c.id, {"name": "张三", "mobile": "+86 138 0013 8000"})
    d = _customer(ctx, name="Unrelated GmbH", email="BOSS@zs.cn")
    e = _customer(ctx, name="张三商贸有限责任公司")  # same key after suffix removal
    found = {x.customer_id: x for x in dedupe.find_duplicates(ctx, a.id)}
    assert set(found) == {b.id, c.id, e.id}
    assert "same name" in found[b.id].reasons
    assert "same phone number" in found[c.id].reasons
    assert found[b.id].score > 0.7
    assert [x.customer_id for x in dedupe.find_duplicates(ctx, d.id)] == [c.id]
    groups = dedupe.duplicate_groups(ctx)
    assert {"reason": "same name", "value": "张三商贸", "customer_ids": [a.id, b.id, e.id]} in groups


def test_similar_names_are_candidates_with_lower_score(ctx):
    a = _customer(ctx, name="Northwind Traders Inc.")
    b = _customer(ctx, name="Northwind Trader")
    cand = dedupe.find_duplicates(ctx, a.id)
    assert [x.customer_id for x in cand] == [b.id]
    assert cand[0].score < 0.8 and cand[0].reasons[0].startswith("similar name")


def test_merge_moves_history_fills_gaps_and_undo_restores(ctx):
    winner = _customer(ctx, name="张三商贸有限公司", tags=["VIP"])
    loser = _customer(ctx, name="张三商贸(有限公司)", industry="批发", email="zs@example.cn", tags=["批发", "VIP"])
    ct = contacts.create_contact(ctx, loser.id, {"name": "张三", "wechat": "zs"})
    contacts.add_address(ctx, loser.id, {"line1": "世纪大道100号", "city": "上海"})
    it = interactions.log_interaction(ctx, loser.id, {"channel": "wechat", "subject": "hello"})
    ctx.session.add(ExternalRef(system="erp", entity="customer", entity_id=loser.id, external_id="P-7"))
    ctx.session.commit()
    before = winner.completeness

    summary = dedupe.merge_customers(ctx, winner.id, loser.id)
    assert summary["moved"] == {"contacts": 1, "addresses": 1, "interactions": 1, "external_refs": 1,
                                "customer_identities": 1}  # the contact's WeChat ID
    assert sorted(summary["filled"]) == ["email", "industry"]
    w = customers.get_customer(ctx, winner.id)
    assert w.industry == "批发" and sorted(t.name for t in w.tags) == ["VIP", "批发"]
    assert [c.id for c in w.contacts] == [ct.id]
    assert ctx.session.get(Interaction, it.id).customer_id == winner.id
    assert w.completeness > before
    with pytest.raises(Exception) as info:
        customers.get_customer(ctx, loser.id)
    assert f"merged into customer {winner.id}" in str(info.value)
    # the loser disappears from lists
    items, total = customers.list_customers(ctx)
    assert [c.id for c in items] == [winner.id]
    entry = ctx.session.get(AuditLog, summary["audit_id"])
    assert entry.action == "merged" and entry.data["loser_id"] == loser.id

    result = dedupe.unmerge(ctx, summary["audit_id"])
    assert result["restored"] == ["email", "industry"]
    ctx.session.expire_all()
    w = customers.get_customer(ctx, winner.id)
    lo = customers.get_customer(ctx, loser.id)
    assert w.industry is None and w.email is None and [t.name for t in w.tags] == ["VIP"]
    assert [c.id for c in lo.contacts] == [ct.id] and len(lo.addresses) == 1
    assert ctx.session.get(Interaction, it.id).customer_id == loser.id
    assert ctx.session.get(ExternalRef, 1).entity_id == loser.id
    with pytest.raises(Conflict):
        dedupe.unmerge(ctx, summary["audit_id"])


def test_merge_rules(ctx, rt, make_user):
    a = _customer(ctx, name="A")
    with pytest.raises(ValidationError):
        dedupe.merge_customers(ctx, a.id, a.id)
    rep, _ = make_user("sales")
    rctx = rt.context(actor=rep)
    b = customers.create_customer(rctx, {"name": "B"})
    c = customers.create_customer(rctx, {"name": "C"})
    with pytest.raises(PermissionDenied):  # reps lack customer.merge
        dedupe.merge_customers(rctx, b.id, c.id)


def test_merge_keeps_winner_ref_when_both_have_one_for_same_system(ctx):
    w = _customer(ctx, name="W")
    lo = _customer(ctx, name="L")
    ctx.session.add_all([ExternalRef(system="erp", entity="customer", entity_id=w.id, external_id="1"),
                         ExternalRef(system="erp", entity="customer", entity_id=lo.id, external_id="2")])
    ctx.session.commit()
    summary = dedupe.merge_customers(ctx, w.id, lo.id)
    assert "external_refs" not in summary["moved"]
