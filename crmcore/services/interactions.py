"""Interactions: log a touchpoint on a customer's timeline, from any channel or plugin."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..db import utcnow
from ..errors import NotFound, ValidationError
from ..events import record_change
from ..models import Contact, Customer, Interaction
from . import access, listing
from ..schemas.customers import InteractionSchema
from .customers import get_customer
from .unit import unit_of_work
from .validation import load
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext


_SCHEMA = InteractionSchema(exclude=("customer_id",))
FIELDS = ("channel", "direction", "subject", "body", "occurred_at", "contact_id", "entity_type", "entity_id",
          "source", "data")


def validate_interaction(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """An interaction's input checked and converted by ``InteractionSchema``, the one validation every
    path shares (API, admin, plugins); whether the contact is the customer's is checked on logging."""
    return load(_SCHEMA, data, partial=False, message=_("The interaction is not valid."))


def log_interaction(ctx: ServiceContext, customer_id: int, data: dict[str, Any]) -> Interaction:
    """Append a touchpoint to the customer's timeline."""
    ctx.require("interaction.write")
    customer = get_customer(ctx, customer_id)
    data = validate_interaction(ctx, data)
    occurred = check_interaction(ctx, customer, data)
    with unit_of_work(ctx):
        item = Interaction(customer_id=customer.id, user_id=getattr(ctx.actor, "id", None),
                           occurred_at=occurred, source=data.get("source") or ctx.source)
        for key in FIELDS:
            if key in data and key not in ("occurred_at", "source"):
                setattr(item, key, data[key])
        item.direction = data.get("direction", "inbound")
        item.data = data.get("data") or {}
        ctx.session.add(item)
        ctx.hook.crm_before_save(ctx=ctx, entity="interaction", obj=item, changes={}, created=True)
        ctx.session.flush()
        record_change(ctx, "interaction", "created", item.id,
                      {"channel": [None, item.channel], "subject": [None, item.subject]},
                      data={"customer_id": customer.id})
    return item


def check_interaction(ctx: ServiceContext, customer: Customer, data: dict[str, Any]) -> dt.datetime:
    """What the schema cannot judge of validated input (:func:`validate_interaction`): that the contact is one
    of the customer's. Returns when the interaction occurred (now when not given)."""
    if data.get("contact_id") is not None:
        contact = ctx.session.get(Contact, data["contact_id"])
        if contact is None or contact.customer_id != customer.id:
            message = _("This contact does not belong to the customer.")
            raise ValidationError(_("The interaction is not valid."), errors={"contact_id": [message]})
    occurred: dt.datetime = data.get("occurred_at") or utcnow()
    return occurred


def get_interaction(ctx: ServiceContext, interaction_id: int) -> Interaction:
    ctx.require("interaction.read")
    item = ctx.session.get(Interaction, interaction_id)
    if item is None:
        raise NotFound(_("Interaction %(id)s does not exist.", id=interaction_id))
    get_customer(ctx, item.customer_id)
    return item


def list_interactions(ctx: ServiceContext, *, customer_id: int | None = None, channel: str | None = None,
                      page: int = 1, page_size: int = 25, cursor: str | None = None) -> listing.ListPage:
    """Interactions with customers the actor may see, newest first; by keyset from ``cursor``."""
    ctx.require("interaction.read")
    visible = access.scope_customers(ctx, select(Customer.id).where(Customer.deleted_at.is_(None)))
    stmt = select(Interaction).where(Interaction.customer_id.in_(visible))
    if customer_id is not None:
        stmt = stmt.where(Interaction.customer_id == customer_id)
    if channel:
        stmt = stmt.where(Interaction.channel == channel)
    keys = [listing.Key(Interaction.occurred_at, desc=True), listing.Key(Interaction.id, desc=True)]
    return listing.list_page(ctx, stmt, name="interactions", keys=keys, cursor=cursor, page=page, page_size=page_size)
