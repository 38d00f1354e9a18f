"""Cross-sell suggestions: products other plugins (analysis, service) propose for a customer,
shown on the opportunity and on the customer; merged per product, best first."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from crmcore.services.customers import get_customer
from crmcore.runtime import ServiceContext

from ..contracts import Suggestion
from ..models import Product
from .opportunities import get_opportunity

log = logging.getLogger(__name__)


def _collect(ctx: ServiceContext, customer: Any, opportunity: Any, limit: int) -> list[dict[str, Any]]:
    merged: dict[int, Suggestion] = {}
    for impl in reversed(ctx.hook.crm_sales_cross_sell.get_hookimpls()):
        kwargs = {"ctx": ctx, "customer": customer, "opportunity": opportunity}
        try:
            found = list(impl.function(*[kwargs[a] for a in impl.argnames]) or ())
        except Exception:  # noqa: BLE001 - a broken suggester must not break the page
            log.exception("plugin %r failed in crm_sales_cross_sell", impl.plugin_name)
            continue
        for s in found:
            source = s.source or impl.plugin_name
            have = merged.get(s.product_id)
            if have is None:
                merged[s.product_id] = Suggestion(s.product_id, float(s.score), list(s.reasons), source)
                continue
            if s.score > have.score:
                have.score, have.source = float(s.score), source
            have.reasons += [r for r in s.reasons if r not in have.reasons]
    if not merged:
        return []
    products = {p.id: p for p in ctx.session.scalars(select(Product).where(Product.id.in_(merged),
                                                                           Product.active.is_(True)))}
    out = []
    for s in sorted(merged.values(), key=lambda s: (-s.score, s.product_id)):
        product = products.get(s.product_id)
        if product is None:
            continue
        out.append({**s.to_dict(), "score": round(min(1.0, max(0.0, s.score)), 4), "code": product.code,
                    "name": product.name, "list_price": product.list_price, "currency": product.currency})
    return out[:limit]


def for_customer(ctx: ServiceContext, customer_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """Products suggested for the customer (inactive or unknown products are dropped)."""
    ctx.require("sales.product.read")
    customer = get_customer(ctx, customer_id)
    return _collect(ctx, customer, None, limit)


def for_opportunity(ctx: ServiceContext, opportunity_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """Products suggested for the opportunity's customer, in the opportunity's context."""
    ctx.require("sales.product.read")
    opp = get_opportunity(ctx, opportunity_id)
    customer = get_customer(ctx, opp.customer_id)
    return _collect(ctx, customer, opp, limit)
