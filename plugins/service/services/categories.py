"""Ticket categories (with the kind of ticket they open: question, incident, request, complaint)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.errors import NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext

from ..models import KINDS, Category


def list_categories(ctx: ServiceContext) -> list[Category]:
    ctx.require("service.ticket.read")
    return list(ctx.session.scalars(select(Category).order_by(Category.name)))


def save_category(ctx: ServiceContext, data: dict[str, Any], category_id: int | None = None) -> Category:
    """Create or change a category."""
    ctx.require("service.config.manage")
    cat = ctx.session.get(Category, category_id) if category_id else Category(active=True, kind="request")
    if cat is None:
        raise NotFound(_("No such category."))
    errors: dict[str, list[Any]] = {}
    if "name" in data and not (data["name"] or "").strip() or not (data.get("name") or cat.name):
        errors["name"] = [_("A name is required.")]
    if data.get("kind", cat.kind) not in KINDS:
        errors["kind"] = [_("Choose one of: %(choices)s.", choices=", ".join(KINDS))]
    if errors:
        raise ValidationError(_("The category is not valid."), errors=errors)
    with unit_of_work(ctx):
        changes = {}
        for key in ("name", "kind", "active"):
            if key in data and getattr(cat, key) != data[key]:
                changes[key] = [getattr(cat, key), data[key]]
                setattr(cat, key, data[key].strip() if key == "name" else data[key])
        if category_id is None:
            ctx.session.add(cat)
        ctx.session.flush()
        record_change(ctx, "service_category", "updated" if category_id else "created", cat.id, changes)
    return cat
