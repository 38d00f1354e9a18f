"""Analytical CRM: RFM segments, customer lifetime value (BG/NBD, Gamma-Gamma), cohorts and
loyalty, churn propensity, association rules for cross-selling, the 7P customer profile and
rule-based customer tags. Reads the sales plugin's orders; registers as a third party would."""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl
from crmcore.i18n import lazy_gettext as _l
from crmcore.runtime import ServiceContext

CRM_LABEL = _l("Analysis")  # the plugin's name on the admin's plugin page
CRM_REQUIRES = ["sales"]
# Found by convention: models.py, migrations/, templates/. Declared (crmcore.declarations):
CRM_PERMISSIONS = ".permissions:PERMISSIONS"
CRM_AUDIT_ENTITIES = ".permissions:AUDIT_ENTITIES"
CRM_BLUEPRINTS = ".api:blueprints"
CRM_ADMIN_VIEWS = ".admin:admin_views"
CRM_COMMANDS = ".cli:analyze"
CRM_JOBS = ".jobs:JOBS"
CRM_COMPUTED_FIELDS = ".services.computed:computed_fields"


@hookimpl
def crm_events(ctx: ServiceContext, events: list[Any]) -> None:
    """An order, opportunity, stage, product or customer written: the readers' kept forecasts are dropped."""
    from .services.forecast_cache import on_events

    on_events(ctx, events)


@hookimpl
def crm_customer_panels(ctx: ServiceContext, customer: Any) -> list[Any]:
    from .services.profile import customer_panel

    return customer_panel(ctx, customer)


@hookimpl
def crm_sales_cross_sell(ctx: ServiceContext, customer: Any, opportunity: Any) -> list[Any]:
    from .services.basket import suggestions_for

    return suggestions_for(ctx, customer)


@hookimpl(trylast=True)  # after the sales plugin's demo, whose products and customers it uses
def crm_demo_data(ctx: ServiceContext) -> list[str]:
    from .services.demo import load_demo

    return [load_demo(ctx)]
