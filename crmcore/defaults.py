"""The core's own hook implementations, registered as the plugin ``core``.

Defaults that plugins may override or extend are ``trylast`` (datasette style).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from . import hookimpl
from .contracts import Job, Panel, Permission
from .field_types import BUILTIN
from .models import ExternalRef, Interaction

ALL = ("admin",)
PERMISSIONS = [
    Permission("customer.read", "See customers, contacts and addresses", ("manager", "sales", "service", "analyst")),
    Permission("customer.write", "Create and change customers, contacts and addresses", ("manager", "sales")),
    Permission("customer.delete", "Delete customers", ("manager",)),
    Permission("customer.merge", "Merge duplicate customers and undo merges", ("manager",)),
    Permission("customer.import", "Import customers in bulk", ("manager",)),
    Permission("interaction.read", "See the interaction timeline", ("manager", "sales", "service", "analyst")),
    Permission("interaction.write", "Log interactions", ("manager", "sales", "service")),
    Permission("customfield.manage", "Define custom fields", ()),
    Permission("user.manage", "Manage users, roles, teams and tokens", ()),
    Permission("audit.read", "Read the audit log", ("manager", "analyst")),
    Permission("plugin.read", "See loaded plugins and their hooks", ()),
    Permission("outbox.manage", "See and replay outbox messages", ()),
]


@hookimpl
def crm_register_permissions() -> list[Permission]:
    return PERMISSIONS


@hookimpl
def crm_register_field_types() -> list[Any]:
    return BUILTIN


@hookimpl
def crm_register_jobs() -> list[Job]:
    from .services.outbox import deliver_due

    return [Job("outbox.deliver", lambda ctx: deliver_due(ctx), 60, "Deliver pending outbox messages")]


@hookimpl(trylast=True)
def crm_find_duplicates(ctx: Any, customer: Any, limit: int) -> list[Any]:
    from .services.dedupe import default_candidates

    return default_candidates(ctx, customer, limit)


@hookimpl(trylast=True)
def crm_customer_merge(ctx: Any, winner: Any, loser: Any) -> list[Any]:
    from .services.dedupe import default_merge

    return default_merge(ctx, winner, loser)


@hookimpl
def crm_customer_panels(ctx: Any, customer: Any) -> list[Panel]:
    from .services.customers import completeness_of

    score, missing = completeness_of(ctx, customer)
    panels = [Panel("completeness", "Profile completeness", rows=[("Score", f"{score}%"),
                                                                   ("Missing", ", ".join(missing) or "nothing")], order=10)]
    refs = ctx.session.scalars(select(ExternalRef).where(ExternalRef.entity == "customer",
                                                         ExternalRef.entity_id == customer.id)).all()
    if refs:
        panels.append(Panel("external", "In other systems", rows=[(r.system, r.external_id) for r in refs], order=90))
    if ctx.can("interaction.read"):
        recent = ctx.session.scalars(select(Interaction).where(Interaction.customer_id == customer.id)
                                     .order_by(Interaction.occurred_at.desc()).limit(5)).all()
        panels.append(Panel("recent", "Recent interactions", items=[
            {"when": i.occurred_at.isoformat(), "channel": i.channel, "subject": i.subject} for i in recent], order=20))
    return panels
