"""Searches of leads, products and opportunities match what is typed: ``%`` and ``_`` are no wildcards."""
from __future__ import annotations

from plugins.sales.services import catalog, leads, opportunities


def test_percent_and_underscore_are_plain_characters(ctx, make_customer):
    catalog.create_product(ctx, {"code": "P-100", "name": "100% Cotton_Shirt", "list_price": "10.00"})
    catalog.create_product(ctx, {"code": "P-2", "name": "Wool Scarf", "list_price": "5.00"})
    assert [p.name for p in catalog.list_products(ctx, q="%")[0]] == ["100% Cotton_Shirt"]
    assert [p.name for p in catalog.list_products(ctx, q="n_s")[0]] == ["100% Cotton_Shirt"]
    assert catalog.list_products(ctx, q="l_s")[0] == []  # "_" no longer stands for the space of "Wool Scarf"

    leads.create_lead(ctx, {"name": "Li 50%", "company": "A_B Ltd", "wechat": "li50"})
    leads.create_lead(ctx, {"name": "Wang", "company": "AxB Ltd", "wechat": "wang1"})
    assert [lead.name for lead in leads.list_leads(ctx, q="a_b")[0]] == ["Li 50%"]
    assert [lead.name for lead in leads.list_leads(ctx, q="%")[0]] == ["Li 50%"]

    customer = make_customer("Acme")
    opportunities.create_opportunity(ctx, {"name": "Deal 10%", "customer_id": customer.id})
    opportunities.create_opportunity(ctx, {"name": "Deal 100", "customer_id": customer.id})
    assert [o.name for o in opportunities.list_opportunities(ctx, q="10%")[0]] == ["Deal 10%"]
    assert [o.name for o in opportunities.list_opportunities(ctx, q="%")[0]] == ["Deal 10%"]
