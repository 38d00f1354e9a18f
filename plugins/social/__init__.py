"""Social CRM (SCRM): referral codes and links, who referred whom, the referral tree, each customer's social
value (revenue brought, successful referrals, reach) as computed fields, and a referral programme rewarding
the referrer and the new customer in loyalty points or coupons, with fraud guards. Requires ``sales``."""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl, listens_to
from crmcore.i18n import lazy_gettext as _l
from crmcore.runtime import ServiceContext

CRM_LABEL = _l("Social CRM")  # the plugin's name on the admin's plugin page
CRM_REQUIRES = ["sales"]
CRM_HOOKSPECS = "plugins.social.hookspecs"
# Found by convention: models.py, migrations/, templates/. Declared (crmcore.declarations):
CRM_PERMISSIONS = ".permissions:PERMISSIONS"
CRM_AUDIT_ENTITIES = ".permissions:AUDIT_ENTITIES"
CRM_BLUEPRINTS = ".api:blueprints"
CRM_ADMIN_VIEWS = ".admin:admin_views"
CRM_COMMANDS = ".cli:referrals"
CRM_JOBS = ".jobs:JOBS"
CRM_COMPUTED_FIELDS = ".computed:computed_fields"
CRM_ENTITIES = ".entities:entities"

# events after which the social value above a customer and their referral rewards may change
PAYMENT_EVENTS = ("sales.payment.recorded", "sales.invoice.paid", "sales.invoice.updated", "sales.order.updated",
                  "sales.order.created")


@hookimpl
def crm_before_save(ctx: ServiceContext, entity: str, obj: Any, changes: dict[str, Any], created: bool) -> None:
    if entity in ("lead", "customer"):
        from .services.referrals import on_before_save

        on_before_save(ctx, entity, obj, changes, created)


@hookimpl
@listens_to("sales.lead.qualified", *PAYMENT_EVENTS)
def crm_events(ctx: ServiceContext, events: list[Any]) -> None:
    """A lead qualified keeps its referrer; a payment, an invoice or an order changed: refresh the social value above its customer and reward a
    referred customer's first paid order (one batch per commit)."""
    qualified = [int(e.entity_id) for e in events if e.name == "sales.lead.qualified"]
    if qualified:  # before the payments: a lead qualified and paid in one commit is a referred customer
        from .services.referrals import on_leads_qualified

        on_leads_qualified(ctx, qualified)
    mine = [e for e in events if e.name in PAYMENT_EVENTS]
    if mine:
        from .services.events import on_sales_events

        on_sales_events(ctx, mine)


@hookimpl
def crm_customer_panels(ctx: ServiceContext, customer: Any) -> list[Any]:
    from .panels import customer_panels

    return customer_panels(ctx, customer)


@hookimpl(trylast=True)  # after the sales demo: its customers, orders and invoices
def crm_demo_data(ctx: ServiceContext) -> list[str]:
    from .services.demo import load_demo

    return [load_demo(ctx)]


@hookimpl
def crm_customer_merge(ctx: ServiceContext, winner: Any, loser: Any) -> list[Any]:
    from .services.merge import before_merge

    return before_merge(ctx, winner, loser)


@hookimpl(optionalhook=True)  # a hook of the channels plugin (branch s18-inbound): social loads without it
def crm_channel_scene(ctx: ServiceContext, inbound: Any, customer: Any, lead_id: int | None) -> None:
    """A follower scanned a QR code (or added a staff member through a WeCom "contact me" way): the scene
    ``ref_<code>`` records who referred the matched customer (or the lead a queued follower became)."""
    if customer is None and lead_id is None:
        return
    from .services.referrals import referral_from_scene

    referral_from_scene(ctx, getattr(inbound, "scene", None), customer.id if customer is not None else None,
                        lead_id=None if customer is not None else lead_id,
                        source="wecom" if getattr(inbound, "platform", None) == "wecom" else "wechat")
