"""The customer 360 panel of the social plugin: who referred the customer, their code and link, their social
value, and their referral tree (ancestors and descendants, names only for customers the reader may see)."""
from __future__ import annotations

from typing import Any

from crmcore.contracts import Panel
from crmcore.i18n import _, local_money
from crmcore.runtime import ServiceContext


def customer_panels(ctx: ServiceContext, customer: Any) -> list[Panel]:
    if not ctx.can("social.read"):
        return []
    from plugins.sales.services.money import base_currency

    from .services.referrals import codes_of
    from .services.tree import referral_tree
    from .services.value import value_of

    tree = referral_tree(ctx, customer.id)
    value = value_of(ctx, customer.id)
    hidden = str(_("A customer outside your scope"))
    parent = tree["ancestors"][0] if tree["ancestors"] else None
    codes = [c.code for c in codes_of(ctx, customer.id) if c.active]
    rows: list[tuple[Any, Any]] = [
        (_("Referred by"), (parent["name"] or hidden) if parent else str(_("Nobody"))),
        (_("Referral code"), ", ".join(codes) or str(_("None yet"))),
        (_("Referral link"), ", ".join(f"/r/{c}" for c in codes) or str(_("None yet"))),
        (_("Social value"), local_money(value["social_value"], base_currency(ctx))),
        (_("Successful referrals"), value["referral_count"]),
        (_("Referral reach"), value["referral_reach"])]
    items = ([{"level": -n["depth"], "customer": n["name"] or hidden} for n in reversed(tree["ancestors"])]
             + [{"level": n["depth"], "customer": n["name"] or hidden} for n in tree["descendants"]])
    return [Panel("social", _("Referrals"), rows=rows, items=items, order=65)]
