"""ERP integration: the adapter contract, the sync engine and the Tryton, Odoo and CSV adapters.

Registers exactly as a third-party plugin: its tables (connections, runs, issues, the ERP's
invoices), the ``erp`` outbox destination that pushes CRM changes, ``crm sync``, the scheduled
sync, ``/api/v1/sync``, admin pages and the customer's ERP finance panel. Records of other
plugins (orders, invoices, ...) reach them through ``crm_sync_apply``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from crmcore import hookimpl

MIGRATIONS = Path(__file__).parent / "migrations"


@hookimpl
def crm_register_models() -> list[type]:
    from .models import MODELS

    return MODELS


@hookimpl
def crm_register_migrations() -> list[str]:
    return [str(MIGRATIONS)]


@hookimpl
def crm_register_permissions() -> list[Any]:
    from .permissions import PERMISSIONS

    return PERMISSIONS


@hookimpl
def crm_register_erp_adapters() -> list[Any]:
    from .csv_files import CsvAdapter
    from .odoo import OdooAdapter
    from .tryton import TrytonAdapter

    return [TrytonAdapter, OdooAdapter, CsvAdapter]


@hookimpl
def crm_register_outbox_handlers() -> list[Any]:
    from .push import handler

    return [handler()]


@hookimpl
def crm_sync_apply(ctx: Any, stream: str, record: Any, sync: Any) -> Any:
    from .customers import apply_credit_limit, apply_customer

    if stream == "customers":
        return apply_customer(ctx, sync, record)
    if stream == "credit_limits":
        return apply_credit_limit(ctx, sync, record)
    return None


@hookimpl
def crm_before_save(ctx: Any, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
    from .ownership import refuse_locked

    refuse_locked(ctx, entity, obj, changes, created)


@hookimpl
def crm_register_commands(cli: Any) -> None:
    from .cli import sync

    cli.add_command(sync)


@hookimpl
def crm_register_jobs() -> list[Any]:
    from .cli import JOBS

    return JOBS


@hookimpl
def crm_register_blueprints() -> list[Any]:
    from .api import blueprints

    return blueprints()


@hookimpl
def crm_register_admin_views(db: Any) -> list[Any]:
    from .admin import admin_views

    return admin_views(db)


@hookimpl
def crm_customer_panels(ctx: Any, customer: Any) -> list[Any]:
    from .panels import finance_panel

    panel = finance_panel(ctx, customer)
    return [panel] if panel is not None else []


@hookimpl
def crm_startup(app: Any) -> None:
    from flask import Blueprint

    # the admin pages' templates (admin/erp/*.html) join the app's template search path
    app.register_blueprint(Blueprint("erp_templates", __name__, template_folder="templates"))
