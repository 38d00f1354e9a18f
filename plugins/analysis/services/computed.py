"""Customer fields the analysis computes, for conditions over customers (audiences): the latest RFM
segment and recency, lifetime value and churn score, as SQL correlated to the customer row."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select

from crmcore.entities import ComputedField
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext

from ..models import ChurnScore, ClvScore, RfmScore


def _latest(model: Any, column: str) -> Any:
    def expr(ctx: ServiceContext) -> Any:
        latest = select(func.max(model.run_date)).scalar_subquery()
        return (select(getattr(model, column))
                .where(and_(model.customer_id == Customer.id, model.run_date == latest))
                .correlate(Customer).scalar_subquery())
    return expr


def computed_fields() -> list[ComputedField]:
    """The customer fields of the latest analysis runs (empty for customers a run did not score)."""
    return [ComputedField("customer", "rfm_segment", "str", _("RFM segment"), _latest(RfmScore, "segment")),
            ComputedField("customer", "days_since_last_order", "int", _("Days since last order"),
                          _latest(RfmScore, "recency_days")),
            ComputedField("customer", "lifetime_value", "num", _("Lifetime value"), _latest(ClvScore, "clv")),
            ComputedField("customer", "churn_score", "num", _("Churn score"), _latest(ChurnScore, "churn_score"))]
