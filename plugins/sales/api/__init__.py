"""The sales REST API under /api/v1/sales (flask-smorest: OpenAPI, validation, JSON errors)."""
from __future__ import annotations

from typing import Any


def blueprints() -> list[Any]:
    from . import activities, catalog, coupons, kpis, leads, opportunities, orders, quotes, webform

    return [leads.blp, opportunities.blp, catalog.blp, quotes.blp, orders.blp, activities.blp, kpis.blp,
            webform.bp, coupons.blp]
