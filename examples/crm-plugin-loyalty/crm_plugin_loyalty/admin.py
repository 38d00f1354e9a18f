"""The admin page of the plugin: the points ledger at /admin/loyalty_points/, with an award form.

``SecureModelView`` gives login, the permission checks and CSRF; writes go through
``services.award`` so the audit entry, the event and every plugin's hooks happen as in the API.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.admin.views import SecureModelView
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.services import access
from crmcore.runtime import ServiceContext

from . import services
from .models import LoyaltyPoints


class LoyaltyPointsView(SecureModelView):
    """Every award, newest first; only the customers the user may see."""

    permission = "loyalty.read"
    write_permission = "loyalty.write"
    form_columns = ("customer_id", "points", "reason")
    column_list = ("id", "customer_id", "points", "reason", "created_at")
    column_labels = {"customer_id": _("Customer"), "points": _("Points"), "reason": _("Reason"),
                     "created_at": _("When")}
    column_default_sort = ("id", True)
    column_sortable_list = ("id", "points", "created_at")

    def _visible(self, query: Any) -> Any:
        visible = access.scope_customers(self.ctx(), select(Customer.id).where(Customer.deleted_at.is_(None)))
        return query.filter(LoyaltyPoints.customer_id.in_(visible))

    def get_query(self) -> Any:
        return self._visible(super().get_query())

    def get_count_query(self) -> Any:
        return self._visible(super().get_count_query())

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return services.award(ctx, data["customer_id"], data["points"], data["reason"])


def views(db: Any) -> list[Any]:
    return [LoyaltyPointsView(LoyaltyPoints, db, name=_("Loyalty points"), endpoint="loyalty_points")]
