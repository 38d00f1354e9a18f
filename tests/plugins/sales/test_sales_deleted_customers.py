"""A deleted or merged-away customer takes no new orders, invoices, quotes, opportunities, activities,
expenses or tickets: a clear 422 in the reader's language from the services, so the API, the admin and
the sync all get it (issue 13: deleted customers still accepted orders)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from crmcore.errors import ValidationError
from crmcore.services import customers as customer_svc
from crmcore.services import dedupe
from plugins.service import models as _service_models  # noqa: F401 - tables on the metadata early


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(PLUGINS=["plugins.sales", "plugins.service"])


def bodies(customer_id: int) -> dict[str, dict[str, Any]]:
    line = [{"description": "Item", "quantity": "1", "unit_price": "10.00"}]
    return {
        "/api/v1/sales/orders": {"number": f"SO-DEL-{customer_id}", "customer_id": customer_id,
                                 "order_date": "2026-11-02", "lines": line},
        "/api/v1/sales/invoices": {"number": f"INV-DEL-{customer_id}", "customer_id": customer_id,
                                   "invoice_date": "2026-11-02", "due_date": "2026-12-02", "amount_total": "10.00"},
        "/api/v1/sales/quotes": {"customer_id": customer_id, "lines": line},
        "/api/v1/sales/opportunities": {"name": "Deal", "customer_id": customer_id},
        "/api/v1/sales/activities": {"kind": "call", "subject": "Call", "customer_id": customer_id},
        "/api/v1/sales/expenses": {"amount": "12.00", "description": "Taxi", "customer_id": customer_id,
                                   "spent_on": "2026-11-02"},
        "/api/v1/service/tickets": {"subject": "Broken", "customer_id": customer_id},
    }


@pytest.mark.parametrize("how", ["deleted", "merged"])
@pytest.mark.parametrize("lang, words", [("en", {"deleted": "was deleted", "merged": "was merged"}),
                                         ("zh-CN", {"deleted": "已删除", "merged": "已合并"})])
def test_a_deleted_or_merged_customer_takes_no_new_records(client, admin_headers, ctx, how, lang, words):
    gone = customer_svc.create_customer(ctx, {"name": "Gone Trading"})
    kept = customer_svc.create_customer(ctx, {"name": "Kept Trading"})
    if how == "deleted":
        customer_svc.delete_customer(ctx, gone.id)
    else:
        dedupe.merge_customers(ctx, kept.id, gone.id)
    headers = {**admin_headers, "Accept-Language": lang}
    for url, body in bodies(gone.id).items():
        r = client.post(url, json=body, headers=headers)
        assert r.status_code == 422, (url, r.status_code, r.json)
        message = r.json["errors"]["customer_id"][0]
        assert words[how] in message and "Gone Trading" in message, (url, message)
    # the live customer still takes every one of them
    for url, body in bodies(kept.id).items():
        r = client.post(url, json=body, headers=admin_headers)
        assert r.status_code in (200, 201), (url, r.json)


def test_a_quote_of_a_customer_deleted_since_cannot_become_an_order(ctx):
    from plugins.sales.services import quotes

    customer = customer_svc.create_customer(ctx, {"name": "Late Deletion Co"})
    quote = quotes.create_quote(ctx, {"customer_id": customer.id, "lines": [
        {"description": "Item", "quantity": "1", "unit_price": "10.00"}]})
    assert quotes.submit_quote(ctx, quote.id).status == "approved"  # no approval policy: approved at once
    customer_svc.delete_customer(ctx, customer.id)
    with pytest.raises(ValidationError) as info:
        quotes.convert_to_order(ctx, quote.id, order_date=dt.date(2026, 11, 2))
    assert "was deleted" in str(info.value)


def test_a_customer_that_does_not_exist_is_a_422_naming_the_field(client, admin_headers):
    r = client.post("/api/v1/sales/orders", json=bodies(999999)["/api/v1/sales/orders"], headers=admin_headers)
    assert r.status_code == 422 and "999999" in r.json["errors"]["customer_id"][0]


def test_a_lead_cannot_be_qualified_onto_a_deleted_customer(client, admin_headers, ctx):
    gone = customer_svc.create_customer(ctx, {"name": "Gone Lead Target"})
    customer_svc.delete_customer(ctx, gone.id)
    lead = client.post("/api/v1/sales/leads", json={"name": "Wang", "phone": "13800138000"}, headers=admin_headers).json
    r = client.post(f"/api/v1/sales/leads/{lead['id']}/qualify", json={"customer_id": gone.id}, headers=admin_headers)
    assert r.status_code == 422 and "Gone Lead Target" in r.json["errors"]["customer_id"][0]
