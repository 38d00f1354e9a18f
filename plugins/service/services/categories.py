"""Ticket categories (with the kind of ticket they open: question, incident, request, complaint)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.errors import NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import Category
from ..schemas import TicketCategorySchema

_SCHEMA = TicketCategorySchema()


def list_categories(ctx: ServiceContext) -> list[Category]:
    ctx.require("service.ticket.read")
    return list(ctx.session.scalars(select(Category).order_by(Category.name)))


def validate_category(ctx: ServiceContext, data: dict[str, Any], existing: Category | None) -> dict[str, Any]:
    """A category's input checked by ``TicketCategorySchema`` (the name's length from the model, a known
    kind): the one validation of the API and the admin. A new category needs a name."""
    return load(_SCHEMA, data, partial=existing is not None, message=_("The category is not valid."))


def save_category(ctx: ServiceContext, data: dict[str, Any], category_id: int | None = None) -> Category:
    """Create or change a category."""
    ctx.require("service.config.manage")
    cat = ctx.session.get(Category, category_id) if category_id else Category(active=True, kind="request")
    if cat is None:
        raise NotFound(_("No such category."))
    data = validate_category(ctx, data, cat if category_id else None)
    with unit_of_work(ctx):
        changes = {}
        for key in ("name", "kind", "active"):
            if key in data and getattr(cat, key) != data[key]:
                changes[key] = [getattr(cat, key), data[key]]
                setattr(cat, key, data[key])
        if category_id is None:
            ctx.session.add(cat)
        ctx.session.flush()
        record_change(ctx, "service_category", "updated" if category_id else "created", cat.id, changes)
    return cat
