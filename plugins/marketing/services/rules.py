"""Record rules of the marketing plugin: who sees which campaigns and customers.

Everyone whose record scope is ``all`` (analysts, service agents, admins) and those who manage marketing
(``marketing.manage``) see every campaign. Anyone else granted ``marketing.read`` (a sales role, say) sees
only the campaigns that reached customers in their record scope (the core's own/team rules), and of those
campaigns only their customers (recipients, samples); the campaign's counts stay whole (no names in them)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services.access import scope_customers

from ..models import Campaign, Recipient


def sees_all(ctx: ServiceContext) -> bool:
    return ctx.scope == "all" or ctx.can("marketing.manage")


def my_customers(ctx: ServiceContext) -> Any:
    """SELECT of the ids of the customers in the actor's record scope."""
    return scope_customers(ctx, select(Customer.id))


def scope_campaigns(ctx: ServiceContext, stmt: Any) -> Any:
    """A select over ``Campaign`` restricted to what the actor may see."""
    if sees_all(ctx):
        return stmt
    return stmt.where(Campaign.id.in_(select(Recipient.campaign_id).where(
        Recipient.customer_id.in_(my_customers(ctx)))))


def scope_recipients(ctx: ServiceContext, stmt: Any) -> Any:
    """A select over ``Recipient`` restricted to the actor's customers."""
    return stmt if sees_all(ctx) else stmt.where(Recipient.customer_id.in_(my_customers(ctx)))


def scope_members(ctx: ServiceContext, stmt: Any) -> Any:
    """A select over ``Customer`` (an audience's members) restricted to the actor's customers."""
    return stmt if sees_all(ctx) else scope_customers(ctx, stmt)
