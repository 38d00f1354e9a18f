"""The fields a condition over an entity may name (columns, custom, computed, one hop away), and its matches."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlalchemy import Date, and_, cast, func, or_, select
from sqlalchemy import inspect as sa_inspect

from .. import entities as meta
from ..conditions import Field, compile_sql
from ..errors import PermissionDenied
from ..i18n import _
from ..models import CustomField, Customer, User
from ..schemas.meta import MatchesQuerySchema
from .access import scope_customers, team_ids
from .validation import load
from .workflow_registry import entities as workflow_entities

if TYPE_CHECKING:
    from ..runtime import ServiceContext


TITLE_COLUMNS = ("name", "title", "number", "subject", "full_name", "username", "code")
_QUERY = MatchesQuerySchema()
_CUSTOM_KINDS = {"integer": "int", "decimal": "num", "date": "date", "boolean": "bool"}


def fields_for(ctx: ServiceContext, name: str, *, readable_only: bool = False) -> dict[str, Field]:
    """Every field of entity ``name`` a condition may name, typed, labelled and with its choices: its
    columns, its custom fields (``attributes.<name>``), the computed fields plugins register and the
    columns and computed fields of the records it points to (``customer.level``, ``customer.province``). ``readable_only`` leaves out related
    records the actor may not read (what a builder offers); validation sees them all."""
    entity = meta.registered(ctx)[name]
    out = _columns(entity)
    for spec in meta.computed(ctx, name):
        out[spec.field] = Field(spec.field, spec.kind, spec.expr(ctx), spec.label)
    out.update(_custom(ctx, entity))
    by_model = {e.model: e for e in meta.registered(ctx).values()}
    mapper = sa_inspect(entity.model)
    for rel in mapper.relationships:
        target = by_model.get(rel.mapper.class_)
        if rel.direction.name != "MANYTOONE" or target is None or rel.key.startswith("_"):
            continue
        if readable_only and not ctx.can(target.read_permission):
            continue
        local = next(iter(rel.local_columns)).key
        heading = entity.labels.get(local) or meta.COMMON_LABELS.get(local) or target.label
        join = and_(*[remote == l_col for l_col, remote in rel.local_remote_pairs])
        for key, field in _columns(target).items():
            expr = select(field.expr).where(join).correlate(entity.model).scalar_subquery()
            out[f"{rel.key}.{key}"] = Field(f"{rel.key}.{key}", field.kind, expr, f"{heading} · {field.label}",
                                            field.choices)
        for spec in meta.computed(ctx, target.name):  # the customer's province, segment... of an order
            expr = select(spec.expr(ctx)).select_from(target.model).where(join).correlate(entity.model).scalar_subquery()
            out[f"{rel.key}.{spec.field}"] = Field(f"{rel.key}.{spec.field}", spec.kind, expr,
                                                   f"{heading} · {spec.label}")
    return out


def _columns(entity: Any) -> dict[str, Field]:
    out: dict[str, Field] = {}
    for column in sa_inspect(entity.model).columns:
        kind = meta.column_kind(column)
        if kind == "json" or meta.is_hidden(entity, column.key):
            continue
        label = entity.labels.get(column.key) or meta.COMMON_LABELS.get(column.key) or column.key
        out[column.key] = Field(column.key, kind, getattr(entity.model, column.key), label,
                                tuple(entity.choices.get(column.key, ())))
    return out


def _custom(ctx: ServiceContext, entity: Any) -> dict[str, Field]:
    attributes = getattr(entity.model, "attributes", None)
    if attributes is None:
        return {}
    out: dict[str, Field] = {}
    for cf in ctx.session.scalars(select(CustomField).where(CustomField.entity == entity.name,
                                                            CustomField.active.is_(True))):
        kind = _CUSTOM_KINDS.get(cf.type, "str")
        item = attributes[cf.name]
        expr = {"int": item.as_integer, "num": item.as_float, "bool": item.as_boolean}.get(kind, item.as_string)()
        if kind == "date":
            expr = cast(item.as_string(), Date)
        choices = tuple((c["value"], c.get("label") or c["value"]) if isinstance(c, dict) else (c, c)
                        for c in cf.choices or [])
        out[f"attributes.{cf.name}"] = Field(f"attributes.{cf.name}", kind, expr, cf.label, choices)
    return out


def describe(ctx: ServiceContext, name: str) -> dict[str, Any]:
    """The entity's metadata (:func:`crmcore.entities.describe`) plus the fields of the records it points to,
    one hop away (``customer.level``, source ``related``) that the actor may read: what a condition builder offers."""
    entity = meta.get(ctx, name)
    out = meta.describe(ctx, entity)
    for f in fields_for(ctx, name, readable_only=True).values():
        if "." in f.name and not f.name.startswith("attributes."):
            out["fields"].append({"name": f.name, "label": str(f.label), "type": f.kind, "max_length": None,
                                  "required": False, "choices": [{"value": v, "label": str(label)} for v, label in f.choices],
                                  "filterable": True, "sortable": False, "source": "related",
                                  "related": _points_to(ctx, entity.model, f.name)})
    return out


def _points_to(ctx: ServiceContext, model: Any, name: str) -> str | None:
    """The entity a related field one hop away points to (``customer.owner_id``: ``user``), so a builder picks
    it by name; None for a field that holds no reference."""
    rel, _sep, key = name.partition(".")
    relationship = sa_inspect(model).relationships.get(rel)
    column = relationship.mapper.class_.__table__.c.get(key) if relationship is not None else None
    by_table = {e.model.__table__.name: e.name for e in meta.registered(ctx).values()}
    return next((by_table[fk.column.table.name] for fk in getattr(column, "foreign_keys", ())
                 if fk.column.table.name in by_table), None)


def matches(ctx: ServiceContext, name: str, data: Any) -> dict[str, Any]:
    """How many records of ``name`` the actor may see satisfy ``data["condition"]``, and a sample of at most
    ``data["limit"]`` (:data:`crmcore.schemas.meta.MAX_SAMPLE`) of them (id and title): the builder's live count, the policy's preview.

    :raises ConditionError: when the condition is not valid for the entity, every problem by path.
    """
    entity = meta.get(ctx, name)
    data = load(_QUERY, data, partial=False, message=_("The query is not valid."))
    condition, limit = data["condition"], data["limit"]
    where = compile_sql(condition, fields_for(ctx, name), path="condition")
    model = entity.model
    stmt = scoped(ctx, name, model, select(model.id).where(where))
    if "deleted_at" in model.__table__.c:
        stmt = stmt.where(model.deleted_at.is_(None))
    count = ctx.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    title = next((c for c in TITLE_COLUMNS if c in model.__table__.c), None)
    rows = ctx.session.execute(stmt.add_columns(getattr(model, title) if title else model.id)
                               .order_by(model.id.desc()).limit(limit)).all()
    return {"count": count, "sample": [{"id": row[0], "title": str(row[1]) if title else f"#{row[0]}"} for row in rows]}


def scoped(ctx: ServiceContext, name: str, model: Any, stmt: Any) -> Any:
    """``stmt`` restricted to the records the actor's record scope (own, team, all) lets them see: by the
    entity's owner, else its customer's, else (a record without either, such as an order line) the parent
    record it points to; PermissionDenied when none of these says. An entity that declares its own rule
    (``Entity.scope``, e.g. the marketing plugin's campaigns) is restricted by that rule instead."""
    declared = meta.registered(ctx).get(name)
    if declared is not None and declared.scope is not None and declared.model is model:
        return declared.scope(ctx, stmt)
    if ctx.scope == "all":
        return stmt
    if model is Customer:
        return scope_customers(ctx, stmt)
    spec = workflow_entities(ctx).get(name)
    owner = spec.owner_field if spec is not None else "owner_id"
    if owner and owner in model.__table__.c:
        column = getattr(model, owner)
        if ctx.scope == "team" and (teams := team_ids(ctx)):
            return stmt.where(or_(column == ctx.actor_id, column.in_(select(User.id).where(User.team_id.in_(teams)))))
        return stmt.where(column == ctx.actor_id)
    if "customer_id" in model.__table__.c:
        return stmt.where(model.customer_id.in_(scope_customers(ctx, select(Customer.id))))
    for rel in sa_inspect(model).relationships:  # a line of an order: the records its parent lets them see
        parent = next((e for e in meta.registered(ctx).values() if e.model is rel.mapper.class_), None)
        if rel.direction.name == "MANYTOONE" and parent is not None and parent.model is not model:
            (local, remote), = rel.local_remote_pairs
            return stmt.where(local.in_(scoped(ctx, parent.name, parent.model, select(remote))))
    raise PermissionDenied(_("Your record scope does not let you count these records."))

