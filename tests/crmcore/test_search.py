"""Customer and contact search through the indexes: phones in any written form, e-mails, pinyin, initials,
Chinese substrings, short queries, LIKE's special characters, and an index kept in step by every write."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import insert, text, update

from crmcore.models import Contact, Customer
from crmcore.normalize import search_text
from crmcore.services import contacts as contact_svc
from crmcore.services import customers as svc
from crmcore.services import dedupe
from crmcore.services.search import contact_ids, customer_ids, phone_prefix


def names(ctx, q, **kw):
    return sorted(c.name for c in svc.list_customers(ctx, q=q, page_size=100, **kw)[0])


@pytest.fixture
def people(ctx, make_customer):
    zs = make_customer("张三商贸有限公司", code="ZS1", phone="13800138000", email="Sales@ZhangSan.example")
    acme = make_customer("Acme Trading Ltd", email="Sales@Acme.example", code="ACM-001")
    odd = make_customer("100% Natural_Foods O'Brien", code="ODD1")
    plain = make_customer("Natural Foods Co", code="NF1")
    li = make_customer("李娜", code="LN1", kind="person")
    contact_svc.create_contact(ctx, li.id, {"name": "Wang Fang", "mobile": "+86 137 0013 7000",
                                            "email": "Fang.Wang@Mail.example", "wechat": "wf_2019", "qq": "50506789"})
    return {"zs": zs, "acme": acme, "odd": odd, "plain": plain, "li": li}


def test_phone_in_any_written_form(ctx, people):
    for q in ("13800138000", "+86 138-0013-8000", "(+86) 138 0013 8000", "008613800138000", "１３８００１３８０００"):
        assert names(ctx, q) == ["张三商贸有限公司"], q
    # a contact's mobile finds its customer; a partly typed number finds by prefix
    assert names(ctx, "137-0013-7000") == ["李娜"]
    assert names(ctx, "138 0013") == ["张三商贸有限公司"]
    assert names(ctx, "+86137") == ["李娜"]
    assert phone_prefix("0086 138", "CN") == "+86138" and phone_prefix("12", "CN") is None
    assert names(ctx, "13900139000") == []


def test_email_any_case_and_prefix(ctx, people):
    assert names(ctx, "SALES@ACME.EXAMPLE") == ["Acme Trading Ltd"]
    assert names(ctx, "sales@") == ["Acme Trading Ltd", "张三商贸有限公司"]
    assert names(ctx, "fang.wang@") == ["李娜"]  # the contact's e-mail
    assert names(ctx, "acme.example") == ["Acme Trading Ltd"]  # a part without @: the text index


def test_names_pinyin_initials_chinese_and_codes(ctx, people):
    assert names(ctx, "zssm") == ["张三商贸有限公司"]
    assert names(ctx, "ZhangSan") == ["张三商贸有限公司"]
    assert names(ctx, "三商贸") == ["张三商贸有限公司"]
    assert names(ctx, "acm-001") == ["Acme Trading Ltd"]
    assert names(ctx, "wang fang") == ["李娜"]  # the contact's name
    assert names(ctx, "WF_2019") == ["李娜"]  # the contact's WeChat id


def test_short_queries_still_match(ctx, people):
    assert names(ctx, "商贸") == ["张三商贸有限公司"]
    assert names(ctx, "娜") == ["李娜"]
    assert names(ctx, "ac") == ["Acme Trading Ltd"]
    assert names(ctx, "z") == ["张三商贸有限公司"]


def test_like_wildcards_and_quotes_are_plain_characters(ctx, people):
    assert names(ctx, "%") == ["100% Natural_Foods O'Brien"]
    assert names(ctx, "100%") == ["100% Natural_Foods O'Brien"]
    assert names(ctx, "l_f") == ["100% Natural_Foods O'Brien"]  # "_" is no single-character wildcard
    assert names(ctx, "o'brien") == ["100% Natural_Foods O'Brien"]
    assert names(ctx, "'") == ["100% Natural_Foods O'Brien"]
    assert names(ctx, "natural foods") == ["Natural Foods Co"]
    assert names(ctx, '"') == [] and names(ctx, 'a"b') == [] and names(ctx, "\\") == []
    assert names(ctx, "natural") == ["100% Natural_Foods O'Brien", "Natural Foods Co"]


def test_contact_search(ctx, people):
    def found(q):
        return [c.name for c in contact_svc.list_contacts(ctx, q=q)[0]]

    for q in ("wf_2019", "WF_", "50506789", "13700137000", "+86 137 0013", "FANG.WANG@mail", "wang", "fang"):
        assert found(q) == ["Wang Fang"], q
    assert found("%") == [] and found("wf%") == [] and found("x_2019") == []


def test_index_follows_every_write(ctx, people):
    zs, acme, odd = people["zs"], people["acme"], people["odd"]
    svc.update_customer(ctx, zs.id, {"name": "李四贸易"})
    assert names(ctx, "商贸") == [] and names(ctx, "zssm") == []
    assert names(ctx, "lisimaoyi") == ["李四贸易"] and names(ctx, "lsmy") == ["李四贸易"]
    svc.update_customer(ctx, acme.id, {"email": "hello@widgets.example"})
    assert names(ctx, "sales@acme") == [] and names(ctx, "widgets.exa") == ["Acme Trading Ltd"]
    svc.delete_customer(ctx, odd.id)
    assert names(ctx, "100%") == []
    dedupe.merge_customers(ctx, people["plain"].id, people["li"].id)
    assert names(ctx, "wang fang") == ["Natural Foods Co"]  # the contact moved to the winner
    contact = ctx.session.query(Contact).one()
    contact_svc.delete_contact(ctx, contact.id)
    assert names(ctx, "wang fang") == []
    # rows written set-based (a bulk import, the ERP sync) are found too: the database keeps the index
    ctx.session.execute(insert(Customer), [{"code": f"B{i}", "name": f"批量客户{i}", "attributes": {},
                                           "search_text": search_text(f"批量客户{i}", f"B{i}")} for i in range(3)])
    ctx.session.execute(update(Customer).where(Customer.code == "B2").values(search_text=search_text("改名", "B2")))
    ctx.session.commit()
    assert names(ctx, "批量客户") == ["批量客户0", "批量客户1"]
    assert names(ctx, "gaiming") == ["批量客户2"]


def test_search_is_served_by_the_indexes(ctx, people):
    """The text and number lookups run on the indexes (not a scan of every customer)."""
    conn = ctx.session.connection()
    for q, index in (("zhangsan", "customers_fts"), ("13800138000", "phone_normalized"),
                     ("sales@acme", "email_normalized"), ("wang fang", "contacts_fts")):
        stmt = customer_ids(ctx, q)
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
            assert not re.search(r"SCAN (customers|contacts)\b(?!_fts)", plan), (q, plan)
            assert index in plan, (q, plan)
        else:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert "Seq Scan" not in plan, (q, plan)
    stmt = contact_ids(ctx, "wf_2019").compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    if conn.dialect.name == "sqlite":
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {stmt}"))
        assert "contacts_fts" in plan and not re.search(r"SCAN contacts\b(?!_fts)", plan), plan
