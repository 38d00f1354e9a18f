"""Entity metadata for tools (condition builders, audiences, exports): fields, types, labels, choices, relations.

Plugins declare an :class:`Entity` with ``crm_register_entities``; the fields are derived from the
SQLAlchemy model (type, length, nullability, foreign keys), with declared labels and choices, plus
the active custom fields of the entity and computed fields the declaration names.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, TYPE_CHECKING

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, Numeric, String, Text, select
from sqlalchemy import inspect as sa_inspect

from .conditions import SECRET_PARTS, Field
from .errors import NotFound
from .i18n import _

if TYPE_CHECKING:
    from .runtime import ServiceContext


@dataclass(frozen=True)
class Entity:
    """A record type tools may read: its model, the permission to read it, and labels for its fields."""

    name: str
    model: Any
    label: Any
    read_permission: str
    labels: dict[str, Any] = field(default_factory=dict)  # field -> label (lazily translated)
    choices: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)  # field -> [(value, label)]
    hidden: tuple[str, ...] = ()  # columns never shown (besides anything secret)
    # the entity's own record rule: ``scope(ctx, stmt)`` restricts a select over the model to what the actor may
    # see; without it the core's rule applies (owner, else customer's owner, else parent record)
    scope: Callable[[ServiceContext, Any], Any] | None = None


@dataclass(frozen=True)
class ComputedField:
    """A field a plugin computes for an entity (an RFM segment, a lifetime value), usable in conditions.

    ``expr(ctx)`` returns a SQL expression correlated to the entity's model (a scalar subquery),
    so :func:`crmcore.conditions.compile_sql` can filter on it; ``value(record)``, when given, reads
    the same value on a loaded record, so workflow and approval conditions
    (:func:`crmcore.conditions.evaluate`) can use the field too. ``join(ctx)``, when given, returns the
    same values as a join: ``(rows, key)``, a subquery with columns ``key`` and ``value`` (at most one row
    per key) and the entity's column its ``key`` matches, so a report reads the field through one LEFT JOIN
    instead of a subquery per row.
    """

    entity: str
    field: str
    kind: str
    label: Any
    expr: Callable[[ServiceContext], Any]
    value: Callable[[Any], Any] | None = None
    join: Callable[[ServiceContext], tuple[Any, Any]] | None = None

    @property
    def name(self) -> str:
        return f"{self.entity}.{self.field}"


# labels of columns many entities share, used where the declaration gives none
COMMON_LABELS: dict[str, Any] = {
    "id": _("ID"), "created_at": _("Created"), "updated_at": _("Updated"), "owner_id": _("Owner"),
    "customer_id": _("Customer"), "contact_id": _("Contact"), "opportunity_id": _("Opportunity"),
    "lead_id": _("Lead"), "order_id": _("Order"), "quote_id": _("Quote"), "interaction_id": _("Interaction"),
    "currency": _("Currency"), "source": _("Source"), "source_channel": _("Source"), "notes": _("Notes"),
    "title": _("Title"), "data": _("Details"), "closed_at": _("Closed"), "qualified_at": _("Qualified"),
    "attributes": _("Custom fields"), "weibo": _("Weibo"), "other": _("Other"), "version": _("Version"),
    "position": _("Sort order"), "description": _("Description"), "name": _("Name"), "status": _("Status"),
    "state": _("State"), "stage": _("Stage"), "channel": _("Channel"), "priority": _("Priority"), "kind": _("Kind"),
    "assignee_id": _("Assignee"), "requester_id": _("Requester"), "user_id": _("User"), "team_id": _("Team"),
    "product_id": _("Product"), "category_id": _("Category"), "price_list_id": _("Price list"),
    "ticket_id": _("Ticket"),
}
# labels of columns that count records (an import's or a sync run's), never the times of the same names
COUNT_LABELS: dict[str, Any] = {"created": _("Records created"), "updated": _("Records updated"),
                                "failed": _("Failed"), "read": _("Read")}
INTERNAL = ("version", "auth_version", "search_text")  # bookkeeping columns no tool filters on


def registered(ctx: ServiceContext) -> dict[str, Entity]:
    """Every declared entity (``crm_register_entities``), by name."""
    from .services.workflow_registry import collected

    return collected(ctx, "crm_register_entities", "entity")


def computed(ctx: ServiceContext, entity: str) -> list[ComputedField]:
    """The computed fields plugins registered for ``entity`` (``crm_register_computed_fields``)."""
    from .services.workflow_registry import collected

    return [f for f in collected(ctx, "crm_register_computed_fields", "computed field").values() if f.entity == entity]


def readable(ctx: ServiceContext) -> list[Entity]:
    """The entities the actor may read, by name."""
    return [e for name, e in sorted(registered(ctx).items()) if ctx.can(e.read_permission)]


def get(ctx: ServiceContext, name: str) -> Entity:
    """One entity the actor may read; NotFound for an unknown one or one the actor may not read."""
    entity = registered(ctx).get(name)
    if entity is None or not ctx.can(entity.read_permission):
        raise NotFound(_("Unknown record type %(name)s.", name=name))
    return entity


def column_kind(column: Any) -> str:
    t = column.type
    impl = getattr(t, "impl", None)
    for cls, kind in ((Boolean, "bool"), (DateTime, "datetime"), (Date, "date"), (Numeric, "num"),
                      (Float, "num"), (Integer, "int"), (JSON, "json"), (Text, "str"), (String, "str")):
        if isinstance(t, cls) or (impl is not None and isinstance(impl, cls)):
            return "money" if kind == "num" and isinstance(t, Numeric) and getattr(t, "scale", None) == 2 else kind
    return "str"


def describe(ctx: ServiceContext, entity: Entity) -> dict[str, Any]:
    """The entity's fields (columns, custom and computed) with labels, choices and relations one hop away."""
    by_table = {e.model.__table__.name: e.name for e in registered(ctx).values()}
    fields: list[dict[str, Any]] = []
    related: list[dict[str, Any]] = []
    for column in sa_inspect(entity.model).columns:
        name = column.key
        if is_hidden(entity, name):
            continue
        kind = column_kind(column)
        target = next((by_table.get(fk.column.table.name) for fk in column.foreign_keys), None)
        item: dict[str, Any] = {
            "name": name, "label": str(entity.labels.get(name, COMMON_LABELS.get(name, name))), "type": kind,
            "max_length": getattr(column.type, "length", None), "required": not column.nullable,
            "choices": [{"value": v, "label": str(label)} for v, label in entity.choices.get(name, [])],
            "filterable": kind != "json", "sortable": kind not in ("json",), "source": "column",
            "related": target}
        fields.append(item)
        if target:
            related.append({"field": name, "entity": target, "label": str(registered(ctx)[target].label)})
    fields += _custom_fields(ctx, entity.name)
    for spec in computed(ctx, entity.name):
        fields.append({"name": spec.field, "label": str(spec.label), "type": spec.kind, "max_length": None,
                       "required": False, "choices": [], "filterable": True, "sortable": True, "source": "computed",
                       "related": None})
    return {"name": entity.name, "label": str(entity.label), "fields": fields, "related": related}


def internal(name: str) -> bool:
    """A column no person reads: bookkeeping (``version``), search copies (``*_normalized``), secrets (hashes)."""
    return name in INTERNAL or name.endswith("_normalized") or any(s in name.lower() for s in SECRET_PARTS)


def is_hidden(entity: Entity, name: str) -> bool:
    return name in entity.hidden or internal(name)


def _custom_fields(ctx: ServiceContext, entity: str) -> list[dict[str, Any]]:
    from .models import CustomField

    rows = ctx.session.scalars(select(CustomField).where(CustomField.entity == entity, CustomField.active.is_(True))
                               .order_by(CustomField.position, CustomField.id))
    kinds = {"integer": "int", "decimal": "num", "date": "date", "boolean": "bool"}
    out = []
    for cf in rows:
        choices = [c if isinstance(c, dict) else {"value": c, "label": str(c)} for c in cf.choices or []]
        out.append({"name": f"attributes.{cf.name}", "label": cf.label, "type": kinds.get(cf.type, "str"),
                    "max_length": None, "required": cf.required, "choices": choices, "filterable": True,
                    "sortable": False, "source": "custom", "related": None})
    return out


def condition_fields(ctx: ServiceContext, name: str) -> dict[str, Field]:
    """The fields of an entity a SQL condition may name: its columns and the computed fields plugins add.

    Used with :func:`crmcore.conditions.compile_sql`, e.g. an audience over customers
    ``{"field": "rfm_segment", "op": "in", "value": ["champions"]}``.
    """
    entity = get(ctx, name)
    out: dict[str, Field] = {}
    for column in sa_inspect(entity.model).columns:
        kind = column_kind(column)
        if kind == "json" or is_hidden(entity, column.key):
            continue
        out[column.key] = Field(column.key, kind, getattr(entity.model, column.key), entity.labels.get(column.key))
    for spec in computed(ctx, name):
        out[spec.field] = Field(spec.field, spec.kind, spec.expr(ctx), spec.label)
    return out


def from_admin_view(name: str, model: Any, label: Any, view: Any, **extra: Any) -> Entity:
    """An :class:`Entity` whose labels and choices come from the admin view that already declares them.

    Labels: the view's form field labels, then its ``column_labels`` (a relationship's label also
    names its foreign-key column); choices: the options of its equality filters and form selects.
    The read permission is the view's ``permission``.
    """
    mapper = sa_inspect(model)
    labels: dict[str, Any] = {}
    choices: dict[str, list[tuple[str, Any]]] = {}
    form = getattr(view, "form", None)
    for key in dir(form) if form is not None else ():
        unbound = getattr(form, key, None)
        kwargs = getattr(unbound, "kwargs", None)
        if not isinstance(kwargs, dict) or not hasattr(unbound, "field_class"):
            continue
        args = getattr(unbound, "args", ())
        text = kwargs.get("label", args[0] if args else None)
        if text is not None:
            labels[key] = text
        options = kwargs.get("choices")
        if isinstance(options, list) and options and all(isinstance(o, tuple) and len(o) == 2 for o in options):
            choices[key] = options
    column_labels = getattr(view, "column_labels", None)  # Flask-Admin leaves a placeholder when unset
    for key, text in (column_labels if isinstance(column_labels, dict) else {}).items():
        labels[key] = text
        if isinstance(key, str) and key in mapper.relationships:
            for column in mapper.relationships[key].local_columns:
                labels.setdefault(column.key, text)
    filters = getattr(view, "column_filters", None)
    for flt in filters if isinstance(filters, (list, tuple)) else ():
        column_key, options = getattr(getattr(flt, "column", None), "key", None), getattr(flt, "options", None)
        if isinstance(column_key, str) and column_key in mapper.columns and isinstance(options, (list, tuple)) and options:
            choices.setdefault(column_key, list(options))
    return Entity(name, model, label, getattr(view, "permission", None) or "*", {**labels, **extra.pop("labels", {})},
                  {**choices, **extra.pop("choices", {})}, **extra)
