"""Sales automation: leads, opportunities and stages, products and quotes, orders and invoices,
activities, monthly plans, KPIs and custom metrics. Registers exactly as a third-party plugin.

This module holds only the hook implementations; the plugin's own hook specifications
(cross-sell suggestions, complaint counts, discount approval) are in :mod:`plugins.sales.hookspecs`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from crmcore import hookimpl

CRM_HOOKSPECS = "plugins.sales.hookspecs"
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
def crm_register_audit_entities() -> list[Any]:
    from .audit import entities

    return entities()


@hookimpl
def crm_register_blueprints() -> list[Any]:
    from .api import blueprints

    return blueprints()


@hookimpl
def crm_register_admin_views(db: Any) -> list[Any]:
    from .admin import admin_views

    return admin_views(db)


@hookimpl
def crm_register_entities() -> list[Any]:
    from .admin.entities import entities

    return entities()


@hookimpl
def crm_customer_panels(ctx: Any, customer: Any) -> list[Any]:
    from .panels import customer_panels

    return customer_panels(ctx, customer)


@hookimpl
def crm_register_commands(cli: Any) -> None:
    from .cli import sales

    cli.add_command(sales)


@hookimpl
def crm_demo_data(ctx: Any) -> list[str]:
    from .services.demo import load_demo

    return [load_demo(ctx)]


@hookimpl
def crm_register_jobs() -> list[Any]:
    from .cli import JOBS

    return JOBS


@hookimpl
def crm_register_workflow_entities() -> list[Any]:
    from .services.workflow import entities

    return entities()


@hookimpl
def crm_register_condition_predicates() -> list[Any]:
    from .services.workflow import predicates

    return predicates()


@hookimpl
def crm_register_workflow_actions() -> list[Any]:
    from .services.workflow import actions

    return actions()


@hookimpl
def crm_sales_discount_approval(ctx: Any, quote: Any) -> bool | None:
    from .services.workflow import needs_approval

    return needs_approval(ctx, quote)


@hookimpl
def crm_approval_completed(ctx: Any, request: Any, record: Any) -> None:
    from .services.workflow import apply_outcome

    apply_outcome(ctx, request, record)


@hookimpl
def crm_after_commit(ctx: Any, entity: str, action: str, entity_id: Any, changes: dict[str, Any]) -> None:
    from .services.workflow import close_when_decided_elsewhere

    close_when_decided_elsewhere(ctx, entity, entity_id, changes)


@hookimpl
def crm_sync_apply(ctx: Any, stream: str, record: Any, sync: Any) -> Any:
    from .services.erp_sync import apply_record

    return apply_record(ctx, stream, record, sync)


@hookimpl
def crm_sync_export(ctx: Any, entity: str, entity_id: int, sync: Any) -> Any:
    from .services.erp_sync import export_record

    return export_record(ctx, entity, entity_id, sync)


@hookimpl
def crm_startup(app: Any) -> None:
    from flask import Blueprint

    from .api.webform import bp

    # the admin pages' templates (admin/sales/*.html) join the app's template search path
    app.register_blueprint(Blueprint("sales_templates", __name__, template_folder="templates"))
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)  # a public form posts from another site; it is checked by its form key
