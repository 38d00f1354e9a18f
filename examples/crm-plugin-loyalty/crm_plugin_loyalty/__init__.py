"""crm-plugin-loyalty: loyalty points for the CRM, an example of a third-party plugin.

Installed, it is found through its entry point (group ``crmcore.plugins``, name ``loyalty``)
and adds:

* a table ``loyalty_points`` with its own Alembic branch ``loyalty``;
* the permissions ``loyalty.read`` and ``loyalty.write``;
* a custom field type ``loyalty_tier`` (bronze, silver or gold);
* ``GET /api/v1/loyalty/customers/<id>`` and ``POST /api/v1/loyalty/customers/<id>/points``;
* an admin page at ``/admin/loyalty_points/``;
* a section "Loyalty" in the customer 360 view;
* a listener that gives points for every interaction logged (``interaction.created``);
* the command ``crm loyalty show <customer id>``;
* referral rewards paid in points for the social plugin (its hook ``crm_referral_reward``).

Settings: ``LOYALTY_POINTS_PER_INTERACTION`` (env ``CRM_LOYALTY_POINTS_PER_INTERACTION``), default 1.
"""
from __future__ import annotations

import logging
from typing import Any

from crmcore import hookimpl, listens_to
from crmcore.contracts import AuditEntity, FieldType, Panel, Permission
from crmcore.i18n import _, lazy_gettext as _l
from crmcore.runtime import ServiceContext

__version__ = "0.1.0"


def _customer_in(ctx: ServiceContext) -> Any:
    """The audit filter of the core, imported when the audit log asks (``crm`` starts without the ORM models)."""
    from crmcore.services.audit_scope import customer_in

    return customer_in(ctx)


# Plugins this one needs, by their names; none here (a sales add-on would say ("sales",)).
CRM_LABEL = _l("Loyalty points")  # the plugin's name on the admin's plugin page
CRM_REQUIRES: tuple[str, ...] = ()

log = logging.getLogger(__name__)
TIER_LABELS = {"none": _("No tier"), "bronze": _("Bronze"), "silver": _("Silver"), "gold": _("Gold")}


def _tier(value: Any, field: Any) -> str:
    tier = str(value).strip().lower()
    if tier not in ("bronze", "silver", "gold"):
        raise ValueError(str(_("Must be bronze, silver or gold.")))
    return tier


# ---- what the plugin registers: declared, no hook needed -------------------------------------
# Found by convention in this package: models.py (its mapped classes), migrations/ (the Alembic
# branch "loyalty"), translations/ (<lang>/LC_MESSAGES/messages.po). Declared here, each standing
# for its crm_register_* hook; "module:name" is imported only when the CRM starts.

CRM_PERMISSIONS = [
    Permission("loyalty.read", _("See loyalty points"), ("manager", "sales", "service", "analyst")),
    Permission("loyalty.write", _("Give or take loyalty points by hand"), ("manager",)),
]
# Its audit entries (data["customer_id"]) are shown to who may see the customer; without this,
# only administrators would see them in the audit log.
CRM_AUDIT_ENTITIES = [AuditEntity("loyalty_points", "loyalty.read", _customer_in)]
CRM_FIELD_TYPES = [FieldType("loyalty_tier", _tier, _("Loyalty tier"))]
CRM_BLUEPRINTS = ".api:blp"
CRM_ADMIN_VIEWS = ".admin:views"  # a function of ``db``
CRM_COMMANDS = ".cli:loyalty"


# ---- behaviour: hooks --------------------------------------------------------------------------


@hookimpl
def crm_customer_panels(ctx: ServiceContext, customer: Any) -> list[Panel]:
    if not ctx.can("loyalty.read"):
        return []
    from .services import points_of, tier_for

    points = points_of(ctx, customer.id)
    return [Panel("loyalty", _("Loyalty"), rows=[(_("Points"), points), (_("Tier"), TIER_LABELS[tier_for(points)])], order=30)]


# ---- events ----------------------------------------------------------------------------------


@hookimpl
@listens_to("interaction.created")  # called for these events only (the others cost nothing)
def crm_event(ctx: ServiceContext, event: Any) -> None:
    """Every interaction logged earns its customer points, once per event."""
    if event.name != "interaction.created" or not event.data.get("customer_id"):
        return
    from .services import award_for_event

    points = int(ctx.settings.get("LOYALTY_POINTS_PER_INTERACTION") or 1)
    # The listener acts as the system, not as the user who logged the interaction:
    # a sales rep may not give points by hand, but the rule may.
    system = ctx.runtime.context(session=ctx.session, source="plugin:loyalty")
    # Joins the unit of work of the events' dispatch: written with it, the awards of all its events at
    # once; never a commit (nor a flush) per event.
    award_for_event(system, int(event.data["customer_id"]), points, f"Interaction {event.entity_id}", event.id)


@hookimpl(optionalhook=True)  # a hook of the social plugin (referral rewards): loyalty loads without it
def crm_referral_reward(ctx: ServiceContext, customer_id: int, points: int, reason: str, key: str) -> bool | None:
    """A referral reward paid in points, once per ``key``, in the caller's unit of work."""
    from .services import award_for_event

    award_for_event(ctx, customer_id, points, reason, key)
    return True
