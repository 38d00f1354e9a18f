"""Member events: customer get-togethers with invitations to a marketing audience, RSVP through a signed link
or a WeChat QR code (the channels plugin's ``crm_channel_scene``, without importing it), check-in by QR code, attendance on the timeline and the ``member_event.attended`` event for journeys."""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl
from crmcore.i18n import lazy_gettext as _l
from crmcore.runtime import ServiceContext

CRM_LABEL = _l("Member events")  # the plugin's name on the admin's plugin page
CRM_REQUIRES = ["marketing"]
# Found by convention: models.py, migrations/, templates/. Declared (crmcore.declarations):
CRM_PERMISSIONS = ".permissions:PERMISSIONS"
CRM_BLUEPRINTS = ".api:blueprints"
CRM_COMMANDS = ".cli:events"
CRM_ADMIN_VIEWS = ".admin:admin_views"


@hookimpl(trylast=True)  # after the marketing demo: its audiences are invited
def crm_demo_data(ctx: ServiceContext) -> list[str]:
    from .services.demo import load_demo

    return [load_demo(ctx)]


@hookimpl
def crm_customer_panels(ctx: ServiceContext, customer: Any) -> list[Any]:
    from .services.invitations import customer_panels

    return customer_panels(ctx, customer)


@hookimpl(optionalhook=True)  # a hook of the channels plugin: member events load without it
def crm_channel_scene(ctx: ServiceContext, inbound: Any, customer: Any, lead_id: int | None) -> str | None:
    """A follower scanned an event's or an invitation's WeChat QR code (scene ``evt_<token>``): RSVP "coming"."""
    from .services.wechat_rsvp import on_scene

    return on_scene(ctx, inbound, customer, lead_id)
