"""A product code that is taken names the product that holds it (by name, never by its id)."""
from __future__ import annotations

from typing import Any

from plugins.sales.services.catalog import create_product


def test_taken_product_code_names_the_product(client: Any, ctx: Any, make_user: Any) -> None:
    held = create_product(ctx, {"code": "P-1", "name": "Blue Widget", "list_price": "10.00"})
    held_id = held.id
    _, manager = make_user("manager")
    r = client.post("/api/v1/sales/products", headers=manager, json={"code": "P-1", "name": "Other", "list_price": "1"})
    assert r.status_code == 422
    message = r.json["errors"]["code"][0]
    assert "'Blue Widget'" in message and f"product {held_id}" not in message
