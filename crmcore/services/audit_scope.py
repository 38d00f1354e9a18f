"""Which audit entries a reader may see: an entry follows its record's record rules, per entity type."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import String, and_, cast, false, or_, select
from sqlalchemy.sql import ColumnElement, Select

from ..contracts import AuditEntity
from ..models import AuditLog, Customer
from . import access
from .workflow_registry import collected

if TYPE_CHECKING:
    from ..runtime import ServiceContext


def entities(ctx: ServiceContext) -> dict[str, AuditEntity]:
    """``{entity type: AuditEntity}`` from every plugin's ``crm_register_audit_entities``."""
    return collected(ctx, "crm_register_audit_entities", "audit entity")


def ids_in(ids: Select[*tuple[Any, ...]]) -> ColumnElement[bool]:
    """Entries whose ``entity_id`` is one of the ids ``ids`` selects (a one-column select)."""
    sub = ids.subquery()
    return AuditLog.entity_id.in_(select(cast(list(sub.c)[0], String(64))))


def visible_customer_ids(ctx: ServiceContext) -> Select[*tuple[Any, ...]] | None:
    """The customers the reader may see, deleted and merged ones included (they keep their owner);
    ``None`` for every customer."""
    return None if ctx.scope == "all" else access.scope_customers(ctx, select(Customer.id))


def customer_in(ctx: ServiceContext) -> ColumnElement[bool] | None:
    """Entries whose ``data["customer_id"]`` is a customer the reader may see (for records that
    belong to a customer, deleted ones included); ``None`` for every customer."""
    ids = visible_customer_ids(ctx)
    return None if ids is None else AuditLog.data["customer_id"].as_integer().in_(ids)


def customer_ids_in(ctx: ServiceContext) -> ColumnElement[bool] | None:
    """Entries of customers the reader may see; ``None`` for every customer."""
    ids = visible_customer_ids(ctx)
    return None if ids is None else ids_in(ids)


def audit_condition(ctx: ServiceContext) -> ColumnElement[bool] | None:
    """The SQL condition over ``AuditLog`` of the entries the reader may see (``None``: every entry)."""
    if "*" in ctx.permissions:
        return None
    conds = []
    for entity in entities(ctx).values():
        if not ctx.can(entity.permission):
            continue
        cond = entity.visible(ctx) if entity.visible is not None else None
        conds.append(AuditLog.entity == entity.name if cond is None else and_(AuditLog.entity == entity.name, cond))
    return or_(*conds) if conds else false()


def scope_audit(ctx: ServiceContext, stmt: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """Restrict a select over ``AuditLog`` to the entries the reader may see."""
    cond = audit_condition(ctx)
    return stmt if cond is None else stmt.where(cond)


def can_see_entry(ctx: ServiceContext, entry: AuditLog) -> bool:
    """Whether the reader may see this one entry."""
    return ctx.session.scalar(scope_audit(ctx, select(AuditLog.id).where(AuditLog.id == entry.id))) is not None
