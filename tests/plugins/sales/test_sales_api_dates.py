"""Dates in the sales, service and analysis API are ISO 8601 and the OpenAPI document says so (issue 13:
``last_order_date`` came back as an HTTP date, ``Sun, 06 Dec 2026 00:00:00 GMT``, from a plain dict)."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from plugins.analysis import models as _analysis_models  # noqa: F401 - tables on the metadata early
from plugins.service import models as _service_models  # noqa: F401

HTTP_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT")
PLUGINS = ["plugins.sales", "plugins.service", "plugins.analysis"]


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(PLUGINS=PLUGINS)


def test_the_customer_summary_gives_last_order_date_in_iso_8601(client, admin_headers, ctx):
    from crmcore.services import customers as customer_svc
    from plugins.sales.services import orders

    customer = customer_svc.create_customer(ctx, {"name": "Date Co"})
    orders.record_order(ctx, {"number": "SO-D1", "customer_id": customer.id, "order_date": dt.date(2026, 3, 9),
                              "lines": [{"description": "x", "quantity": 1, "unit_price": "10.00"}]})
    r = client.get(f"/api/v1/sales/customers/{customer.id}/summary", headers=admin_headers)
    assert r.status_code == 200
    assert r.json["orders"]["CNY"]["last_order_date"] == "2026-03-09"  # was "Mon, 09 Mar 2026 00:00:00 GMT"
    spec = client.get("/api/openapi.json", headers=admin_headers).json
    item = spec["components"]["schemas"]["CurrencyOrders"]["properties"]["last_order_date"]
    assert item["format"] == "date"


def _date_properties(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for name, schema in spec["components"]["schemas"].items():
        for prop, value in (schema.get("properties") or {}).items():
            if re.search(r"(_date|_at|_on|_from|_to|_until|_since)$", prop) and value.get("type") == "string":
                out.append((name, prop, value))
    return out


def test_every_date_in_the_plugins_api_is_iso_8601_and_typed_in_the_openapi_document(client, admin_headers, ctx):
    from crmcore.demo import load_demo as core_demo
    from plugins.sales.services.demo import load_demo as sales_demo
    from plugins.service.services.demo import load_demo as service_demo

    core_demo(ctx)
    sales_demo(ctx)
    service_demo(ctx)
    spec = client.get("/api/openapi.json", headers=admin_headers).json
    untyped = [(n, p, v) for n, p, v in _date_properties(spec)
               if v.get("format") not in ("date", "date-time") and "$ref" not in v and "allOf" not in v]
    assert untyped == [], untyped

    from sqlalchemy import select

    from plugins.sales.models import Order

    buyer = ctx.session.scalar(select(Order.customer_id).order_by(Order.order_date.desc()).limit(1))
    seen = 0
    for path, operations in spec["paths"].items():
        if "get" not in operations or not path.startswith(("/api/v1/sales", "/api/v1/service", "/api/v1/analysis")):
            continue
        url = re.sub(r"\{[a-z_]+\}", "1", path.replace("{customer_id}", str(buyer)))
        r = client.get(url, headers=admin_headers)
        if r.status_code != 200 or not r.is_json:
            continue
        seen += 1
        assert not HTTP_DATE.search(r.get_data(as_text=True)), (url, HTTP_DATE.search(r.get_data(as_text=True)))
    assert seen > 20
