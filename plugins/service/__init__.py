"""Customer service: tickets from the API, e-mail and a self-service portal, states as data, SLA
in business hours with breach escalation, assignment rules, field visits, after-sales follow-ups,
quality tracking, CSAT/NPS surveys and logistics KPIs. Registers exactly as a third-party plugin.

This module holds only the hook implementations. It does not require the sales plugin: it answers
the sales plugin's ``crm_sales_complaints`` hook as an optional hook and reacts to
``sales.order.*`` events when sales is loaded.
"""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl, listens_to
from crmcore.i18n import lazy_gettext as _l
from crmcore.runtime import ServiceContext

# Found by convention: models.py, migrations/, templates/. Declared (crmcore.declarations):
CRM_LABEL = _l("Customer service")  # the plugin's name on the admin's plugin page
CRM_PERMISSIONS = ".permissions:PERMISSIONS"
CRM_AUDIT_ENTITIES = ".audit:entities"
CRM_BLUEPRINTS = ".api:blueprints"
CRM_ADMIN_VIEWS = ".admin:admin_views"
CRM_COMMANDS = ".cli:service"
CRM_JOBS = ".jobs:JOBS"
CRM_OUTBOX_HANDLERS = ".services.mailout:HANDLER"
CRM_CHECKS = ".checks:CHECKS"
CRM_WORKFLOW_ENTITIES = ".services.engine:entities"
CRM_CONDITION_PREDICATES = ".services.engine:predicates"
CRM_WORKFLOW_ACTIONS = ".services.engine:actions"
CRM_ENTITIES = ".admin.entities:entities"
CRM_HOOKSPECS = "plugins.service.hookspecs"  # crm_service_mail_received


@hookimpl(optionalhook=True)  # a hook of the channels plugin: service loads without it
def crm_channel_ticket(ctx: ServiceContext, message: Any, customer: Any) -> int | None:
    from .services.channel_tickets import ticket_for_message

    return ticket_for_message(ctx, message, customer)


@hookimpl
def crm_customer_panels(ctx: ServiceContext, customer: Any) -> list[Any]:
    from .panels import customer_panels

    return customer_panels(ctx, customer)


@hookimpl
def crm_home_panels(ctx: ServiceContext) -> list[Any]:
    from .panels import home_panels

    return home_panels(ctx)


@hookimpl
def crm_demo_data(ctx: ServiceContext) -> list[str]:
    from .services.demo import load_demo

    return [load_demo(ctx)]


@hookimpl
@listens_to("sales.order.created")
def crm_events(ctx: ServiceContext, events: list[Any]) -> None:
    """The orders of the sales plugin (when loaded) created in one commit schedule the ``order`` follow-up
    rules, all at once (a bulk import commits a thousand orders at a time)."""
    orders = [(str(data["number"]), int(data["customer_id"]), event.at) for event in events
              if event.name == "sales.order.created" and (data := event.data or {}).get("number")
              and data.get("customer_id")]
    if not orders:
        return
    from .services.followups import schedule_for_orders

    system = ctx.runtime.context(session=ctx.session, source="plugin:service")
    schedule_for_orders(system, orders)


@hookimpl
def crm_before_save(ctx: ServiceContext, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
    """A ticket moved by the core's workflow engine gets the same SLA effects as the plugin's moves."""
    if entity == "service_ticket" and not created:
        from .services.engine import on_before_save

        on_before_save(ctx, obj, changes)


@hookimpl(optionalhook=True)
def crm_sales_complaints(ctx: ServiceContext, customer_ids: Any, start: Any, end: Any) -> int | None:
    """Complaint tickets of these customers opened in the period (for the sales complaint-rate KPI)."""
    from .services.tickets import count_complaints

    return count_complaints(ctx, customer_ids, start, end)
