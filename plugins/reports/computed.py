"""Fields reports group by that no column holds: a customer's province and city (of the primary address)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.entities import ComputedField
from crmcore.i18n import _
from crmcore.models import Address, Customer
from crmcore.runtime import ServiceContext
from crmcore.services.contacts import first_address


def _address(column: Any) -> Any:
    def expr(ctx: ServiceContext) -> Any:
        return (select(column).where(Address.customer_id == Customer.id)
                .order_by(Address.is_primary.desc(), Address.id).limit(1).correlate(Customer).scalar_subquery())
    return expr


def _address_join(column: Any) -> Any:
    def join(ctx: ServiceContext) -> tuple[Any, Any]:
        return first_address(column, ctx.session.get_bind().dialect.name), Customer.id
    return join


FIELDS = [ComputedField("customer", "province", "str", _("Province"), _address(Address.region),
                        join=_address_join(Address.region)),
          ComputedField("customer", "city", "str", _("City"), _address(Address.city), join=_address_join(Address.city))]
