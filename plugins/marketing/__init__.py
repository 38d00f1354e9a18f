"""Marketing automation: audiences in the core condition language, consent and the suppression list,
sandboxed templates, campaigns sent in batches through the job system with a held-out control group,
tracked opens and clicks, one-click unsubscribe. Registers exactly as a third-party plugin."""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl
from crmcore.i18n import lazy_gettext as _l
from crmcore.runtime import ServiceContext

CRM_LABEL = _l("Marketing")  # the plugin's name on the admin's plugin page
# Found by convention: models.py, migrations/, templates/. Declared (crmcore.declarations):
CRM_PERMISSIONS = ".permissions:PERMISSIONS"
CRM_BLUEPRINTS = ".api:blueprints"
CRM_COMMANDS = ".cli:marketing"
CRM_JOBS = ".jobs:JOBS"
CRM_ADMIN_VIEWS = ".admin:admin_views"
CRM_ENTITIES = ".entities:entities"
CRM_COMPUTED_FIELDS = ".entities:computed_fields"


@hookimpl
def crm_channels() -> list[Any]:
    from .channels import EmailChannel

    return [EmailChannel()]


@hookimpl
def crm_events(ctx: ServiceContext, events: list[Any]) -> None:
    from .services.triggers import on_events

    on_events(ctx, events)  # journeys that wait for one of these events enter its customers


@hookimpl(optionalhook=True)  # a hook of the channels plugin, which marketing does not require
def crm_channel_receipt(ctx: ServiceContext, message: Any, inbound: Any) -> None:
    from .services.channel_receipts import on_receipt

    on_receipt(ctx, message, inbound)


@hookimpl
def crm_customer_panels(ctx: ServiceContext, customer: Any) -> list[Any]:
    from .panels import customer_panels

    return customer_panels(ctx, customer)


@hookimpl(optionalhook=True)  # the service plugin's e-mail intake, when it is loaded
def crm_service_mail_received(ctx: ServiceContext, message: Any) -> str | None:
    from .services.inbound import hook_answer

    return hook_answer(ctx, message)


@hookimpl(trylast=True)  # after the analysis demo: its RFM run gives the days since the last order
def crm_demo_data(ctx: ServiceContext) -> list[str]:
    from .services.demo import load_demo

    return [load_demo(ctx)]


@hookimpl
def crm_startup(app: Any) -> None:
    from .api.public import bp

    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)  # mail clients post the one-click unsubscribe (RFC 8058); the link's signature guards it
