"""Analytical CRM: RFM segments, customer lifetime value (BG/NBD, Gamma-Gamma), cohorts and
loyalty, churn propensity, association rules for cross-selling, the 7P customer profile and
rule-based customer tags. Reads the sales plugin's orders; registers as a third party would."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from crmcore import hookimpl

CRM_REQUIRES = ["sales"]
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
    from crmcore.contracts import AuditEntity

    return [AuditEntity(name, "analysis.read") for name in ("analysis_tag_rule", "analysis_segment_rule", "analysis_rfm",
                                                                "analysis_clv", "analysis_churn", "analysis_basket")]


@hookimpl
def crm_register_blueprints() -> list[Any]:
    from .api import blueprints

    return blueprints()


@hookimpl
def crm_register_admin_views(db: Any) -> list[Any]:
    from .admin import admin_views

    return admin_views(db)


@hookimpl
def crm_register_computed_fields() -> list[Any]:
    from .services.computed import computed_fields

    return computed_fields()


@hookimpl
def crm_customer_panels(ctx: Any, customer: Any) -> list[Any]:
    from .services.profile import customer_panel

    return customer_panel(ctx, customer)


@hookimpl
def crm_register_commands(cli: Any) -> None:
    from .cli import analyze

    cli.add_command(analyze)


@hookimpl
def crm_register_jobs() -> list[Any]:
    from .cli import JOBS

    return JOBS


@hookimpl
def crm_sales_cross_sell(ctx: Any, customer: Any, opportunity: Any) -> list[Any]:
    from .services.basket import suggestions_for

    return suggestions_for(ctx, customer)


@hookimpl(trylast=True)  # after the sales plugin's demo, whose products and customers it uses
def crm_demo_data(ctx: Any) -> list[str]:
    from .services.demo import load_demo

    return [load_demo(ctx)]


@hookimpl
def crm_startup(app: Any) -> None:
    from flask import Blueprint

    app.register_blueprint(Blueprint("analysis_templates", __name__, template_folder="templates"))
