"""ERP integration: the adapter contract, the sync engine and the Tryton, Odoo and CSV adapters.

Registers exactly as a third-party plugin: its tables (connections, runs, issues, the ERP's
invoices), the ``erp`` outbox destination that pushes CRM changes, ``crm sync``, the scheduled
sync, ``/api/v1/sync``, admin pages and the customer's ERP finance panel. Records of other
plugins (orders, invoices, ...) reach them through ``crm_sync_apply``, a hook this plugin owns
(:mod:`adapters.erp.hookspecs`) with ``crm_sync_export`` and ``crm_register_erp_adapters``.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from crmcore import hookimpl
from crmcore.i18n import lazy_gettext as _l
from crmcore.runtime import ServiceContext

CRM_LABEL = _l("ERP integration")  # the plugin's name on the admin's plugin page
CRM_HOOKSPECS = "adapters.erp.hookspecs"  # crm_register_erp_adapters, crm_sync_apply, crm_sync_export
# Found by convention: models.py, migrations/, templates/. Declared (crmcore.declarations):
CRM_PERMISSIONS = ".permissions:PERMISSIONS"
CRM_ERP_ADAPTERS = [".tryton:TrytonAdapter", ".odoo:OdooAdapter", ".csv_files:CsvAdapter"]
CRM_BLUEPRINTS = ".api:blueprints"
CRM_ADMIN_VIEWS = ".admin:admin_views"
CRM_COMMANDS = ".cli:sync"
CRM_JOBS = ".jobs:JOBS"
CRM_OUTBOX_HANDLERS = ".destination:handler"
CRM_CHECKS = ".checks:CHECKS"


@hookimpl
def crm_sync_apply(ctx: ServiceContext, stream: str, record: Any, sync: Any) -> Any:
    from .customers import apply_credit_limit, apply_customer

    if stream == "customers":
        return apply_customer(ctx, sync, record)
    if stream == "credit_limits":
        return apply_credit_limit(ctx, sync, record)
    return None


@hookimpl
def crm_before_save(ctx: ServiceContext, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
    if entity != "customer" or created or not changes:  # (checked again there) a product, a new record: not ours
        return  # to refuse, and a bulk import calls this for every row
    from .ownership import refuse_locked

    refuse_locked(ctx, entity, obj, changes, created)


@hookimpl
def crm_customer_panels(ctx: ServiceContext, customer: Any) -> list[Any]:
    from .panels import finance_panel

    panel = finance_panel(ctx, customer)
    return [panel] if panel is not None else []


@hookimpl
def crm_startup(app: Any) -> None:
    from .connections import erp_adapters

    erp_adapters(SimpleNamespace(runtime=app.extensions["crm"]))  # two adapters of one name fail at start
