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
* the command ``crm loyalty show <customer id>``.

Settings: ``LOYALTY_POINTS_PER_INTERACTION`` (env ``CRM_LOYALTY_POINTS_PER_INTERACTION``), default 1.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from crmcore import hookimpl
from crmcore.contracts import FieldType, Panel, Permission
from crmcore.i18n import _

__version__ = "0.1.0"
# Plugins this one needs, by their names; none here (a sales add-on would say ("sales",)).
CRM_REQUIRES: tuple[str, ...] = ()

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations" / "versions"
TRANSLATIONS = Path(__file__).parent / "translations"  # <lang>/LC_MESSAGES/messages.po
TIER_LABELS = {"none": _("No tier"), "bronze": _("Bronze"), "silver": _("Silver"), "gold": _("Gold")}


# ---- entities --------------------------------------------------------------------------------


@hookimpl
def crm_register_models() -> list[type]:
    from .models import LoyaltyPoints

    return [LoyaltyPoints]


@hookimpl
def crm_register_migrations() -> list[str]:
    return [str(MIGRATIONS)]


@hookimpl
def crm_register_permissions() -> list[Permission]:
    return [
        Permission("loyalty.read", _("See loyalty points"), ("manager", "sales", "service", "analyst")),
        Permission("loyalty.write", _("Give or take loyalty points by hand"), ("manager",)),
    ]


def _tier(value: Any, field: Any) -> str:
    tier = str(value).strip().lower()
    if tier not in ("bronze", "silver", "gold"):
        raise ValueError(str(_("Must be bronze, silver or gold.")))
    return tier


@hookimpl
def crm_register_audit_entities() -> list[Any]:
    # Its audit entries (data["customer_id"]) are shown to who may see the customer; without this,
    # only administrators would see them in the audit log.
    from crmcore.contracts import AuditEntity
    from crmcore.services.audit_scope import customer_in

    return [AuditEntity("loyalty_points", "loyalty.read", customer_in)]


@hookimpl
def crm_register_translations() -> list[str]:
    # The plugin's own catalogues (zh_CN here); `_()` above finds its strings in them.
    return [str(TRANSLATIONS)]


@hookimpl
def crm_register_field_types() -> list[FieldType]:
    return [FieldType("loyalty_tier", _tier, _("Loyalty tier"))]


# ---- web -------------------------------------------------------------------------------------


@hookimpl
def crm_register_blueprints() -> list[Any]:
    from .api import blp

    return [blp]


@hookimpl
def crm_register_admin_views(db: Any) -> list[Any]:
    from .admin import views

    return views(db)


@hookimpl
def crm_customer_panels(ctx: Any, customer: Any) -> list[Panel]:
    if not ctx.can("loyalty.read"):
        return []
    from .services import points_of, tier_for

    points = points_of(ctx, customer.id)
    return [Panel("loyalty", _("Loyalty"), rows=[(_("Points"), points), (_("Tier"), TIER_LABELS[tier_for(points)])], order=30)]


# ---- events ----------------------------------------------------------------------------------


@hookimpl
def crm_event(ctx: Any, event: Any) -> None:
    """Every interaction logged earns its customer points, once per event."""
    if event.name != "interaction.created" or not event.data.get("customer_id"):
        return
    from .services import award

    points = int(ctx.settings.get("LOYALTY_POINTS_PER_INTERACTION") or 1)
    # The listener acts as the system, not as the user who logged the interaction:
    # a sales rep may not give points by hand, but the rule may.
    system = ctx.runtime.context(session=ctx.session, source="plugin:loyalty")
    award(system, int(event.data["customer_id"]), points, f"Interaction {event.entity_id}", event_id=event.id)


# ---- CLI -------------------------------------------------------------------------------------


@hookimpl
def crm_register_commands(cli: Any) -> None:
    import click
    from flask import current_app

    @cli.group()
    def loyalty() -> None:
        """Loyalty points (plugin crm-plugin-loyalty)."""

    @loyalty.command("show")
    @click.argument("customer_id", type=int)
    def show(customer_id: int) -> None:
        """Print a customer's points and tier."""
        from .services import balance

        rt = current_app.extensions["crm"]
        info = balance(rt.context(source="cli"), customer_id)
        points = info["points"]
        click.echo(f"{points} point{'' if abs(points) == 1 else 's'} ({info['tier']})")
