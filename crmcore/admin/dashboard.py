"""The admin home page: the user's day (approvals to decide, and the panels plugins add through
``crm_home_panels``), customers by stage and the latest interactions the user may see."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from flask import url_for
from flask_admin import AdminIndexView, expose
from sqlalchemy import func, select

from ..contracts import Panel
from ..i18n import gettext, lazy_gettext
from ..models import Customer, Interaction, OutboxMessage
from ..models.customer import STAGES
from ..services import access
from ..services import approval_inbox
from .views import PermissionMixin

if TYPE_CHECKING:
    from ..runtime import ServiceContext

STAGE_LABELS = {"lead": lazy_gettext("Leads"), "prospect": lazy_gettext("Prospects"),
                "customer": lazy_gettext("Customers"), "inactive": lazy_gettext("Inactive")}


def stage_counts(ctx: ServiceContext) -> list[tuple[str, Any, int]]:
    """``(stage, label, count)`` for each lifecycle stage, within the actor's record scope."""
    if not ctx.can("customer.read"):
        return []
    stmt = access.scope_customers(ctx, select(Customer.stage, func.count()).where(
        Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)).group_by(Customer.stage))
    counts: dict[str, int] = {stage: count for stage, count in ctx.session.execute(stmt)}
    return [(s, STAGE_LABELS.get(s, s), int(counts.get(s, 0))) for s in STAGES]


def recent_interactions(ctx: ServiceContext, limit: int = 10) -> list[Interaction]:
    if not (ctx.can("interaction.read") and ctx.can("customer.read")):
        return []
    visible = access.scope_customers(ctx, select(Customer.id).where(Customer.deleted_at.is_(None)))
    stmt = (select(Interaction).where(Interaction.customer_id.in_(visible))
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(limit))
    return list(ctx.session.scalars(stmt))


def outbox_counts(ctx: ServiceContext) -> dict[str, int]:
    if not ctx.can("outbox.manage"):
        return {}
    rows = ctx.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    return {status: int(n) for status, n in rows}


def approvals_panel(ctx: ServiceContext, limit: int = 5) -> list[Panel]:
    """My pending decisions, oldest first, each linked to its record (or to the inbox)."""
    if not ctx.can("approval.read"):
        return []
    total = approval_inbox.pending_count(ctx)
    items = []
    for item in approval_inbox.items(ctx, limit=limit) if total else []:
        url = (url_for(f"{item.admin_endpoint}.details_view", id=item.request.entity_id) if item.admin_endpoint
               else url_for("approval_inbox.index"))
        items.append({"text": f"{item.entity_label} {item.summary.title}", "url": url,
                      "note": " · ".join(x for x in (item.summary.customer, item.requester) if x), "warn": False})
    return [Panel("approvals", gettext("My approvals (%(n)s)", n=total), items=items, order=10)]


def home_panels(ctx: ServiceContext) -> list[Panel]:
    """The core's panels and every plugin's (``crm_home_panels``), by order then key."""
    found = approvals_panel(ctx) + [p for group in ctx.hook.crm_home_panels(ctx=ctx) for p in (group or [])]
    return sorted(found, key=lambda p: (p.order, p.key))


class DashboardView(PermissionMixin, AdminIndexView):
    """``/admin``: requires login; shows what the user's role lets them see."""

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        stages = stage_counts(ctx)
        return self.render("admin/crm/dashboard.html", panels=home_panels(ctx), stages=stages, total=sum(n for _, _, n in stages),
                           recent=recent_interactions(ctx), outbox=outbox_counts(ctx))
