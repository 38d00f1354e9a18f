"""Reports anyone in the admin can build: an entity, filters in the core condition language, one or two
groupings, measures; run as one SQL query under the reader's record rules; shown as a table, a pivot or a
server-drawn chart; saved, shared, put on the home page, exported and e-mailed on a schedule."""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl, listens_to
from crmcore.i18n import lazy_gettext as _l
from crmcore.runtime import ServiceContext

CRM_LABEL = _l("Reports")  # the plugin's name on the admin's plugin page
# Found by convention: models.py, migrations/, templates/. Declared (crmcore.declarations):
CRM_PERMISSIONS = ".permissions:PERMISSIONS"
CRM_BLUEPRINTS = ".api:blueprints"
CRM_COMMANDS = ".cli:report"
CRM_JOBS = ".jobs:JOBS"
CRM_ADMIN_VIEWS = ".admin:admin_views"
CRM_COMPUTED_FIELDS = ".computed:FIELDS"


@hookimpl
def crm_home_panels(ctx: ServiceContext) -> list[Any]:
    from .panels import home_panels

    return home_panels(ctx)


@hookimpl(trylast=True)  # after the sales demo: its orders are what the demo reports show
def crm_demo_data(ctx: ServiceContext) -> list[str]:
    from .demo import load_demo

    return [load_demo(ctx)]


@hookimpl(optionalhook=True)  # the sales plugin's hook: reports does not require sales
def crm_sales_metric_value(ctx: ServiceContext, metric: Any, where: tuple[Any, ...], currency: str) -> dict[str, Any] | None:
    from .metrics import metric_value

    return metric_value(ctx, metric, where, currency)


@hookimpl(optionalhook=True)  # the sales plugin's hook: a metric shows the report that defines it
def crm_sales_metric_report(ctx: ServiceContext, metric: Any) -> dict[str, Any] | None:
    from .metrics import metric_report

    return metric_report(ctx, metric)


@hookimpl
@listens_to("sales.metric.")
def crm_events(ctx: ServiceContext, events: list[Any]) -> None:
    """A sales metric written is written to its report too (metrics are reports)."""
    if any(e.name.startswith("sales.metric.") for e in events):
        from .metrics import mirror_metrics

        mirror_metrics(ctx, events)
