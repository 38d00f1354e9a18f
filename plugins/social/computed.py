"""Customer fields the social plugin computes, for conditions over customers (audiences, the RFM pages): the
stored social value, successful referrals and reach (0 for a customer who brought no one)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crmcore.entities import ComputedField
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext


def _stored(column: str) -> Any:
    def expr(ctx: ServiceContext) -> Any:
        from .models import SocialValue

        value = (select(getattr(SocialValue, column)).where(SocialValue.customer_id == Customer.id)
                 .correlate(Customer).scalar_subquery())
        return func.coalesce(value, 0)
    return expr


def computed_fields() -> list[ComputedField]:
    return [ComputedField("customer", "social_value", "num", _("Social value"), _stored("social_value")),
            ComputedField("customer", "referral_count", "int", _("Successful referrals"), _stored("referral_count")),
            ComputedField("customer", "referral_reach", "int", _("Referral reach"), _stored("referral_reach"))]
