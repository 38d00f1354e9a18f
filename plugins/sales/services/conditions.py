"""Declarative conditions for custom metrics, compiled to SQLAlchemy expressions (never ``eval``).

A condition is JSON: a leaf ``{"field": "amount", "op": "gte", "value": 1000}``, or
``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}``. Fields come from a whitelist per
entity (:data:`ENTITIES`); each field has a type that decides its operators and how the value is
read. An empty field fails every comparison except ``ne``, ``not_in`` and ``is_null`` (so ``not``
means what it says). Errors come back by path (``conditions.all.1.value``) so the admin sees
exactly what is wrong.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, not_, or_, true

from crmcore.i18n import _

from ..models import Activity, Expense, Invoice, Lead, Opportunity, Order, Quote

MAX_NODES = 50
MAX_DEPTH = 8
MAX_LIST = 100

OPS = {
    "str": ("eq", "ne", "in", "not_in", "contains", "startswith", "is_null"),
    "int": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "is_null"),
    "num": ("eq", "ne", "lt", "lte", "gt", "gte", "is_null"),
    "money": ("eq", "ne", "lt", "lte", "gt", "gte", "is_null"),
    "date": ("eq", "ne", "lt", "lte", "gt", "gte", "is_null"),
    "datetime": ("lt", "lte", "gt", "gte", "is_null"),
    "bool": ("eq", "ne", "is_null"),
}
AGGREGATABLE = ("int", "num", "money")


@dataclass(frozen=True)
class EntitySpec:
    """A metric entity: its model, owner column (record rules), date column (period) and fields."""

    name: str
    label: Any  # lazily translated
    model: Any
    owner: str
    date: str
    fields: dict[str, str] = field(default_factory=dict)  # name -> type
    currency: str | None = None  # the column money fields are in

    def column(self, name: str) -> Any:
        return getattr(self.model, name)


ENTITIES: dict[str, EntitySpec] = {spec.name: spec for spec in (
    EntitySpec("opportunity", _("Opportunities"), Opportunity, "owner_id", "created_at", {
        "name": "str", "customer_id": "int", "owner_id": "int", "stage_id": "int", "status": "str", "amount": "money",
        "currency": "str", "probability": "int", "expected_close_date": "date", "lost_reason": "str",
        "competitor": "str", "source_channel": "str", "created_at": "datetime", "closed_at": "datetime"},
        currency="currency"),
    EntitySpec("order", _("Orders"), Order, "owner_id", "order_date", {
        "customer_id": "int", "owner_id": "int", "status": "str", "total": "money", "list_total": "money",
        "currency": "str", "order_date": "date", "source": "str"}, currency="currency"),
    EntitySpec("invoice", _("Invoices"), Invoice, "owner_id", "due_date", {
        "customer_id": "int", "owner_id": "int", "state": "str", "amount_total": "money", "amount_paid": "money",
        "currency": "str", "invoice_date": "date", "due_date": "date"}, currency="currency"),
    EntitySpec("activity", _("Activities"), Activity, "owner_id", "done_at", {
        "kind": "str", "status": "str", "outcome": "str", "customer_id": "int", "opportunity_id": "int",
        "owner_id": "int", "due_at": "datetime", "done_at": "datetime"}),
    EntitySpec("lead", _("Leads"), Lead, "owner_id", "created_at", {
        "status": "str", "source_channel": "str", "campaign": "str", "owner_id": "int",
        "estimated_amount": "money", "currency": "str", "created_at": "datetime", "qualified_at": "datetime"},
        currency="currency"),
    EntitySpec("quote", _("Quotes"), Quote, "owner_id", "created_at", {
        "customer_id": "int", "owner_id": "int", "status": "str", "total": "money", "currency": "str",
        "effective_discount_percent": "num", "max_line_discount_percent": "num", "requires_approval": "bool",
        "created_at": "datetime"}, currency="currency"),
    EntitySpec("expense", _("Expenses"), Expense, "owner_id", "spent_on", {
        "owner_id": "int", "customer_id": "int", "category": "str", "amount": "money", "currency": "str",
        "spent_on": "date"}, currency="currency"),
)}


class ConditionError(Exception):
    """The condition is not valid; ``errors`` maps a path (``all.0.value``) to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(str(m) for m in v)}" for k, v in errors.items()))
        self.errors = errors


def _value(kind: str, value: Any) -> Any:
    """The value read as the field's type, or ValueError with a message for a person."""
    if kind == "str":
        if not isinstance(value, str) or len(value) > 255:
            raise ValueError(_("Must be text (at most 255 characters)."))
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(_("Must be a whole number."))
        return value
    if kind in ("num", "money"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(_("Must be a number."))
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(_("Must be a number.")) from None
        if not number.is_finite():
            raise ValueError(_("Must be a finite number."))
        return number
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(_("Must be a date like 2026-03-31.")) from None
    if kind == "datetime":
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(_("Must be a time like 2026-03-31T00:00:00+08:00.")) from None
        if moment.tzinfo is None:
            raise ValueError(_("Give a time zone (e.g. +08:00)."))
        return moment.astimezone(dt.timezone.utc)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(_("Must be true or false."))
        return value
    raise ValueError(_("Unknown type %(kind)s.", kind=kind))  # pragma: no cover - the whitelist has only these


def _known(col: Any, expr: Any) -> Any:
    """Two-valued logic: an empty field fails a comparison (SQL would say NULL, which ``not`` keeps NULL)."""
    return and_(col.is_not(None), expr)


def _leaf(spec: EntitySpec, node: dict[str, Any], path: str, errors: dict[str, list[str]]) -> Any:
    unknown = set(node) - {"field", "op", "value"}
    if unknown:
        errors.setdefault(path, []).append(_("Unknown keys: %(keys)s.", keys=", ".join(sorted(unknown))))
    name, op = node.get("field"), node.get("op")
    kind = spec.fields.get(name) if isinstance(name, str) else None
    if kind is None:
        errors.setdefault(f"{path}.field", []).append(
            _("'%(name)s' is not a field of %(entity)s; use one of: %(fields)s.", name=name, entity=spec.name,
              fields=", ".join(sorted(spec.fields))))
        return None
    if op not in OPS[kind]:
        errors.setdefault(f"{path}.op", []).append(_("For a %(kind)s field use one of: %(ops)s.", kind=kind,
                                                                  ops=", ".join(OPS[kind])))
        return None
    col = spec.column(name)
    value = node.get("value")
    try:
        if op == "is_null":
            if not isinstance(value, bool):
                raise ValueError(_("Must be true (is empty) or false (is not empty)."))
            return col.is_(None) if value else col.is_not(None)
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value or len(value) > MAX_LIST:
                raise ValueError(_("Must be a list of 1 to %(max)s values.", max=MAX_LIST))
            values = [_value(kind, v) for v in value]
            return _known(col, col.in_(values)) if op == "in" else or_(col.is_(None), col.not_in(values))
        if value is None:
            raise ValueError(_("A value is required (use op 'is_null' for empty fields)."))
        v = _value(kind, value)
        if op == "contains":
            return _known(col, col.contains(v, autoescape=True))
        if op == "startswith":
            return _known(col, col.startswith(v, autoescape=True))
        if op == "ne":
            return or_(col.is_(None), col != v)
        return _known(col, {"eq": col.__eq__, "lt": col.__lt__, "lte": col.__le__, "gt": col.__gt__,
                            "gte": col.__ge__}[op](v))
    except ValueError as exc:
        errors.setdefault(f"{path}.value", []).append(str(exc))
        return None


def _compile(spec: EntitySpec, node: Any, path: str, depth: int, count: list[int],
             errors: dict[str, list[str]]) -> Any:
    count[0] += 1
    where = path or "conditions"
    if count[0] > MAX_NODES:
        errors.setdefault(where, []).append(_("Too many conditions (at most %(max)s).", max=MAX_NODES))
        return None
    if depth > MAX_DEPTH:
        errors.setdefault(where, []).append(_("Nested too deeply (at most %(max)s levels).", max=MAX_DEPTH))
        return None
    if not isinstance(node, dict):
        errors.setdefault(where, []).append(_("Each condition must be an object."))
        return None
    prefix = f"{path}." if path else ""
    groups = [k for k in ("all", "any", "not") if k in node]
    if groups:
        if len(node) != 1:
            errors.setdefault(where, []).append(_("A group has exactly one key: all, any or not."))
            return None
        key = groups[0]
        if key == "not":
            inner = _compile(spec, node["not"], f"{prefix}not", depth + 1, count, errors)
            return None if inner is None else not_(inner)
        items = node[key]
        if not isinstance(items, list) or not items:
            errors.setdefault(f"{prefix}{key}", []).append(_("Must be a non-empty list of conditions."))
            return None
        parts = [_compile(spec, item, f"{prefix}{key}.{i}", depth + 1, count, errors) for i, item in enumerate(items)]
        if any(p is None for p in parts):
            return None
        return and_(*parts) if key == "all" else or_(*parts)
    if "field" in node:
        return _leaf(spec, node, where, errors)
    errors.setdefault(where, []).append(_("Use {field, op, value}, {all: [...]}, {any: [...]} or {not: {...}}."))
    return None


def compile_conditions(entity: str, conditions: Any) -> Any:
    """The SQL expression of ``conditions`` over ``entity``; raises :class:`ConditionError`."""
    spec = ENTITIES.get(entity)
    if spec is None:
        raise ConditionError({"entity": [_("Use one of: %(choices)s.", choices=", ".join(sorted(ENTITIES)))]})
    if conditions in (None, {}):
        return true()
    errors: dict[str, list[str]] = {}
    expr = _compile(spec, conditions, "conditions", 0, [0], errors)
    if errors or expr is None:
        raise ConditionError(errors or {"conditions": [_("Not a valid condition.")]})
    return expr
