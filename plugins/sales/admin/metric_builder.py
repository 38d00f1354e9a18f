"""The metric form's condition builder: the fields a metric's conditions may name, labelled, records by name."""
from __future__ import annotations

from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from crmcore import entities as meta
from crmcore.conditions import KIND_OPS
from crmcore.errors import NotFound, PermissionDenied
from crmcore.i18n import _
from crmcore.models import User
from crmcore.runtime import ServiceContext
from crmcore.services import condition_fields
from crmcore.services.condition_fields import TITLE_COLUMNS, scoped

from ..services.metric_entities import ENTITIES

MAX_CHOICES = 500  # records offered by name in a list; more than that: picked by name from a search (the builder's picker)


def builder_meta(ctx: ServiceContext, entity: str) -> dict[str, Any]:
    """What the builder offers on the metric form for ``entity``: exactly the fields the metric's validation accepts
    (:meth:`EntitySpec.condition_fields`), with their labels and choices from the entity metadata, the records a
    field points to by name (users, stages, customers...), and the operators by type."""
    spec = ENTITIES.get(entity)
    if spec is None:
        raise NotFound(_("Unknown record type %(name)s.", name=entity))
    registered = meta.registered(ctx)
    described: dict[str, dict[str, Any]] = {}
    if entity in registered:
        described = {f["name"]: f for f in condition_fields.describe(ctx, entity)["fields"]}
    by_table = {e.model.__table__.name: e.name for e in registered.values()}
    fields = []
    for name, kind in spec.fields.items():
        known = described.get(name, {})
        column = sa_inspect(spec.model).columns.get(name)
        related = known.get("related") or next(
            (by_table.get(fk.column.table.name) for fk in getattr(column, "foreign_keys", ())), None)
        choices = known.get("choices") or []
        if not choices and related and related != "user":
            choices = record_choices(ctx, related)
        elif not choices and column is not None and not related and column.foreign_keys:
            choices = reference_choices(ctx, next(iter(column.foreign_keys)).column.table)
        label = known.get("label") or str(spec.labels.get(name) or meta.COMMON_LABELS.get(name, name))
        fields.append({"name": name, "label": label, "type": kind, "choices": choices, "source": "column",
                       "related": related})
    users = [{"value": u.id, "label": u.full_name or u.username}
             for u in ctx.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username))]
    return {"name": entity, "label": str(spec.label), "fields": fields,
            "operators": {k: list(ops) for k, ops in KIND_OPS.items()}, "users": users}


def record_choices(ctx: ServiceContext, name: str) -> list[dict[str, Any]]:
    """The records of entity ``name`` the reader may see, by name (at most :data:`MAX_CHOICES`; none when there
    are more, or the reader may not read them: the builder then offers its search picker, the field being ``related``)."""
    entity = meta.registered(ctx).get(name)
    if entity is None or not ctx.can(entity.read_permission):
        return []
    model = entity.model
    title = next((getattr(model, c) for c in TITLE_COLUMNS if c in model.__table__.c), None)
    if title is None:
        return []
    stmt = select(model.id, title)
    if "deleted_at" in model.__table__.c:
        stmt = stmt.where(model.deleted_at.is_(None))
    try:
        stmt = scoped(ctx, name, model, stmt)
    except PermissionDenied:  # no record rule the reader's scope can answer: no list
        return []
    rows = ctx.session.execute(stmt.order_by(title, model.id).limit(MAX_CHOICES + 1)).all()
    if len(rows) > MAX_CHOICES:
        return []
    return [{"value": row[0], "label": str(row[1])} for row in rows]


def reference_choices(ctx: ServiceContext, table: Any) -> list[dict[str, Any]]:
    """The rows of a table of settings no record rule governs (no owner, no customer: stages...), by name."""
    if "owner_id" in table.c or "customer_id" in table.c or "id" not in table.c:
        return []
    title = next((table.c[c] for c in TITLE_COLUMNS if c in table.c), None)
    if title is None:
        return []
    rows = ctx.session.execute(select(table.c.id, title).order_by(title, table.c.id).limit(MAX_CHOICES + 1)).all()
    return [] if len(rows) > MAX_CHOICES else [{"value": row[0], "label": str(row[1])} for row in rows]
