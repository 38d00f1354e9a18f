"""Sales automation: leads, opportunities and stages, products and quotes, orders and invoices,
activities, monthly plans, KPIs and custom metrics. Registers exactly as a third-party plugin.

This module holds only the hook implementations; the plugin's own hook specifications
(cross-sell suggestions, complaint counts, discount approval) are in :mod:`plugins.sales.hookspecs`.
"""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl, listens_to
from crmcore.i18n import lazy_gettext as _l
from crmcore.runtime import ServiceContext

CRM_LABEL = _l("Sales")  # the plugin's name on the admin's plugin page
CRM_HOOKSPECS = "plugins.sales.hookspecs"
# Found by convention: models.py, migrations/, templates/. Declared (crmcore.declarations):
CRM_PERMISSIONS = ".permissions:PERMISSIONS"
CRM_AUDIT_ENTITIES = ".audit:entities"
CRM_BLUEPRINTS = ".api:blueprints"
CRM_ADMIN_VIEWS = ".admin:admin_views"
CRM_COMMANDS = ".cli:sales"
CRM_JOBS = ".jobs:JOBS"
CRM_IMPORT_KINDS = ".imports:KINDS"
CRM_ENTITIES = ".admin.entities:entities"
CRM_COMPUTED_FIELDS = ".admin.entities:computed_fields"
CRM_WORKFLOW_ENTITIES = ".services.workflow:entities"
CRM_CONDITION_PREDICATES = ".services.workflow:predicates"
CRM_WORKFLOW_ACTIONS = ".services.workflow:actions"


@hookimpl
def crm_customer_panels(ctx: ServiceContext, customer: Any) -> list[Any]:
    from .panels import customer_panels

    return customer_panels(ctx, customer)


@hookimpl
def crm_home_panels(ctx: ServiceContext) -> list[Any]:
    from .panels import home_panels

    return home_panels(ctx)


@hookimpl
def crm_convert_money(ctx: ServiceContext, amount: Any, currency: Any, target: str) -> Any:
    from .services.money import converted

    return converted(ctx, amount, currency, target)


@hookimpl
def crm_demo_data(ctx: ServiceContext) -> list[str]:
    from .services.demo import load_demo

    return [load_demo(ctx)]


@hookimpl
def crm_sales_discount_approval(ctx: ServiceContext, quote: Any) -> bool | None:
    from .services.workflow import needs_approval

    return needs_approval(ctx, quote)


@hookimpl
def crm_approval_completed(ctx: ServiceContext, request: Any, record: Any) -> None:
    from .services.workflow import apply_outcome

    apply_outcome(ctx, request, record)


@hookimpl
@listens_to("quote")  # a quote's status changed outside its approval
def crm_after_commit(ctx: ServiceContext, entity: str, action: str, entity_id: Any, changes: dict[str, Any]) -> None:
    from .services.workflow import close_when_decided_elsewhere

    close_when_decided_elsewhere(ctx, entity, entity_id, changes)


@hookimpl(optionalhook=True)  # a hook of the erp plugin: sales loads without it
def crm_sync_apply(ctx: ServiceContext, stream: str, record: Any, sync: Any) -> Any:
    from .services.erp_sync import apply_record

    return apply_record(ctx, stream, record, sync)


@hookimpl(optionalhook=True)  # a hook of the erp plugin: sales loads without it
def crm_sync_export(ctx: ServiceContext, entity: str, entity_id: int, sync: Any) -> Any:
    from .services.erp_sync import export_record

    return export_record(ctx, entity, entity_id, sync)


@hookimpl(optionalhook=True)  # a hook of the channels plugin: sales loads without it
def crm_channel_lead(ctx: ServiceContext, message: Any, data: dict[str, Any]) -> int | None:
    from .services.leads import create_lead

    return create_lead(ctx, data, source_channel=data.get("source_channel")).id


@hookimpl
def crm_startup(app: Any) -> None:
    from .api.webform import bp

    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)  # a public form posts from another site; it is checked by its form key
