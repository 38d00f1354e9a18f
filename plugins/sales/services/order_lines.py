"""An order's lines from its validated input: their products, totals and descriptions (the order service's)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from crmcore.db import transient
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from ..models import OrderLine, Product
from .money import ZERO, cents

HUNDRED = Decimal(100)


def line_products(ctx: ServiceContext, raw_lines: Any, known: dict[Any, Product] | None = None
                  ) -> dict[Any, Product | None]:
    """The lines' products by id, each read once with ``session.get`` (None: no such product) unless ``known`` has it."""
    found: dict[Any, Product | None] = {}
    for raw in raw_lines or []:
        pid = raw.get("product_id") if isinstance(raw, dict) else None
        if pid is not None and pid not in found:
            found[pid] = (known.get(pid) if known else None) or ctx.session.get(Product, pid)
    return found


def order_lines(products: dict[Any, Product | None], raw_lines: list[dict[str, Any]]) -> list[OrderLine]:
    """Order lines of validated input: the total, unless given, is quantity x unit price less the discount;
    the description, unless given, the product's name. Built without the ORM's per-field events (an import
    builds thousands): the same new lines as the constructor makes."""
    lines = []
    for raw in raw_lines:
        pid = raw.get("product_id")
        product = products.get(pid) if pid is not None else None
        qty, unit_price, discount = raw["quantity"], raw["unit_price"], raw.get("discount_percent") or ZERO
        total = raw.get("line_total")
        if total is None:
            total = cents(qty * unit_price * (HUNDRED - discount) / HUNDRED)
        description = raw.get("description") or (product.name if product else "") or "-"
        lines.append(transient(OrderLine, {
            "product_id": product.id if product else None, "description": description, "quantity": qty,
            "unit_price": unit_price, "list_price": raw.get("list_price"), "discount_percent": discount,
            "line_total": total}))
    return lines


def check_products(ctx: ServiceContext, raw_lines: Any, errors: dict[str, list[Any]],
                   products: dict[Any, Product | None] | None = None) -> None:
    """``lines.<n>``: a line's product that does not exist (read with ``session.get``: a caller that
    loaded the products already, a bulk import, costs no query; ``products``: as :func:`line_products` read them)."""
    products = line_products(ctx, raw_lines) if products is None else products
    for i, raw in enumerate(raw_lines or []):
        if raw.get("product_id") is not None and products.get(raw["product_id"]) is None:
            errors.setdefault(f"lines.{i}", []).append(_("Product %(id)s does not exist.", id=raw["product_id"]))


def line_values(lines: list[OrderLine]) -> list[tuple[Any, ...]]:
    """What an order's lines hold, to compare stored lines with new ones."""
    return [(ln.product_id, ln.description, ln.quantity, ln.unit_price, ln.list_price, ln.discount_percent or ZERO,
             ln.line_total) for ln in lines]
