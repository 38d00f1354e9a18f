"""Response schemas of the analysis API's per-customer lists, so the OpenAPI document names their fields."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields


def Money(**kw: Any) -> fields.Decimal:  # noqa: N802 - a field factory, read like a field class
    return fields.Decimal(as_string=True, places=2, **kw)


class WarningSchema(Schema):
    """Something the reader must know about a result: what was left out, refitted or not to be trusted."""

    code = fields.Str(metadata={"description": "missing_rate, stale_history, penalized_fallback, not_converged, "
                                               "spend_mean_undefined, auc_below_chance, auc_near_chance, small_data"})
    message = fields.Str(metadata={"description": "In the reader's language"})
    source = fields.Str(metadata={"description": "missing_rate: the currency without a rate"})
    target = fields.Str(metadata={"description": "missing_rate: the report currency"})
    orders = fields.Int(metadata={"description": "missing_rate: orders left out"})
    model = fields.Str()
    penalizer = fields.Float()
    last_order = fields.Str()
    days = fields.Int()
    auc = fields.Float()
    customers = fields.Int()
    buyers = fields.Int()


class _Page(Schema):
    run_date = fields.Date(allow_none=True)
    total = fields.Int()
    page = fields.Int()
    page_size = fields.Int()


class ClvRowSchema(Schema):
    customer = fields.Str()
    customer_id = fields.Int()
    repeat_purchases = fields.Int(metadata={"description": "Purchase days after the first (BG/NBD x; not RFM's frequency)"})
    t_x_days = fields.Int(metadata={"description": "Days from the first to the last purchase (BG/NBD t_x; not RFM's recency)"})
    age_days = fields.Int(metadata={"description": "Days from the first purchase to the run date (BG/NBD T)"})
    average_spend = Money(metadata={"description": "Mean amount of the repeat purchases"})
    expected_purchases = fields.Float(metadata={"description": "Expected purchases in the run's horizon"})
    p_alive = fields.Float(allow_none=True, metadata={"description": "P(still a customer); null for one-time buyers, "
                                                                      "for whom BG/NBD always says 1"})
    expected_spend = Money()
    clv = Money()
    currency = fields.Str()


class ClvPageSchema(_Page):
    items = fields.List(fields.Nested(ClvRowSchema))


class ChurnRowSchema(Schema):
    customer = fields.Str()
    customer_id = fields.Int()
    purchase_probability = fields.Float()
    churn_score = fields.Float()


class ChurnModelSchema(Schema):
    run_date = fields.Date()
    auc = fields.Float(metadata={"description": "On the held-out period; 0.5 is chance"})
    test_customers = fields.Int()
    test_buyers = fields.Int()
    reliable = fields.Bool(metadata={"description": "False when the AUC is below 0.6 or either class is small"})
    warnings = fields.List(fields.Nested(WarningSchema))


class ChurnPageSchema(_Page):
    items = fields.List(fields.Nested(ChurnRowSchema))
    model = fields.Nested(ChurnModelSchema, allow_none=True)
