"""Back-end 2: compile a condition to a SQLAlchemy expression over typed fields (metrics, tag rules, audiences).

Each usable field is a :class:`Field` (a column, or a labelled expression a plugin computes, such
as an RFM segment); its type decides its operators and how the value is read. The result means
exactly what :func:`crmcore.conditions.evaluate` answers on the same record: an empty field fails
every comparison except ``ne``, ``not_in`` and ``is_null``; text matching ignores case.
"""
from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from sqlalchemy import and_, not_, or_, true

from ..i18n import _
from .grammar import NO_VALUE as NO_VALUE_OPS, OPERATORS, ConditionError, Problems, by_path, value_shape, walk

KIND_OPS: dict[str, tuple[str, ...]] = {
    "str": ("eq", "ne", "in", "not_in", "contains", "startswith", "is_null"),
    "int": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "is_null"),
    "num": ("eq", "ne", "lt", "lte", "gt", "gte", "is_null"),
    "money": ("eq", "ne", "lt", "lte", "gt", "gte", "is_null"),
    "date": ("eq", "ne", "lt", "lte", "gt", "gte", "is_null"),
    "datetime": ("lt", "lte", "gt", "gte", "is_null"),
    "bool": ("eq", "ne", "is_null", "is_true", "is_false"),
}
NUMERIC = ("int", "num", "money")
KIND_LABELS: dict[str, Any] = {"str": _("text"), "int": _("whole number"), "num": _("number"), "money": _("amount"),
                               "date": _("date"), "datetime": _("time"), "bool": _("yes/no")}


@dataclass(frozen=True)
class Field:
    """A field a condition may name: its type (a key of :data:`KIND_OPS`) and its SQL expression."""

    name: str
    kind: str
    expr: Any
    label: Any = None
    choices: tuple[tuple[Any, Any], ...] = ()  # (value, label): a value outside them is refused


def near_names(name: Any, known: Mapping[str, Any]) -> list[str]:
    """The known names closest to ``name`` (for "did you mean"), or all of them when none is close."""
    close = difflib.get_close_matches(str(name), list(known), n=5, cutoff=0.6) if isinstance(name, str) else []
    return close or sorted(known)


def read_value(kind: str, value: Any) -> Any:
    """``value`` read as a ``kind`` field's value; ValueError with a message for a person."""
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
    raise ValueError(_("Unknown type %(kind)s.", kind=kind))


def validate_sql(condition: Any, fields: Mapping[str, Field], path: str = "conditions") -> dict[str, list[str]]:
    """Every problem of ``condition`` over ``fields`` as ``{path: [messages]}``; empty when valid."""
    if condition in (None, {}):
        return {}
    return by_path(walk(condition, path, lambda node, where, problems: check_leaf(node, where, fields, problems)))


def check_leaf(node: dict[str, Any], path: str, fields: Mapping[str, Field], problems: Problems,
               extra_ops: tuple[str, ...] = ()) -> None:
    """Check one leaf against typed ``fields``: a known field, an operator of its type (or one of
    ``extra_ops``), a value of its type and, for a field with choices, one of them."""
    name = node.get("field")
    spec = fields.get(name) if isinstance(name, str) else None
    if spec is None:
        problems.append((f"{path}.field", str(_("Unknown field %(name)r; did you mean: %(names)s?", name=name,
                                                   names=", ".join(near_names(name, fields))))))
        return
    op = node.get("op", "eq")
    if op not in OPERATORS:
        value_shape(node, path, problems)  # names the operator unknown, with the known ones
        return
    if op not in KIND_OPS[spec.kind] + extra_ops:
        problems.append((f"{path}.op", str(_("Field type: %(kind)s; use one of: %(ops)s.", kind=KIND_LABELS[spec.kind],
                                             ops=", ".join(KIND_OPS[spec.kind])))))
        return
    if not value_shape(node, path, problems) or op in NO_VALUE_OPS:
        return
    try:
        for item in node["value"] if op in ("in", "not_in") else [node["value"]]:
            if item is None:
                raise ValueError(_("A value is required (use op 'is_null' for empty fields)."))
            read_value(spec.kind, item)
            if spec.choices and op in ("eq", "ne", "in", "not_in") and item not in [v for v, _label in spec.choices]:
                raise ValueError(_("%(value)r is not one of the choices: %(choices)s.", value=item, choices=", ".join(
                    f"{v} ({label})" for v, label in spec.choices)))
    except ValueError as exc:
        problems.append((f"{path}.value", str(exc)))


def compile_sql(condition: Any, fields: Mapping[str, Field], path: str = "conditions") -> Any:
    """The SQL expression of ``condition`` over ``fields`` (an empty condition is true).

    :raises ConditionError: with every problem by path when the condition is not valid.
    """
    problems = validate_sql(condition, fields, path)
    if problems:
        raise ConditionError(_("The conditions are not valid."), errors=problems)
    if condition in (None, {}):
        return true()
    return _sql(condition, fields)


def _sql(node: dict[str, Any], fields: Mapping[str, Field]) -> Any:
    if "all" in node:
        return and_(*[_sql(n, fields) for n in node["all"]])
    if "any" in node:
        return or_(*[_sql(n, fields) for n in node["any"]])
    if "not" in node:
        return not_(_sql(node["not"], fields))
    spec = fields[node["field"]]
    col, op = spec.expr, node.get("op", "eq")
    if op == "is_null":
        empty = col.is_(None) if spec.kind != "str" else or_(col.is_(None), col == "")
        return empty if node.get("value", True) is not False else not_(empty)
    if op in ("is_true", "is_false"):
        return _known(col, col.is_(op == "is_true"))
    if op in ("in", "not_in"):
        values = [read_value(spec.kind, v) for v in node["value"]]
        return _known(col, col.in_(values)) if op == "in" else or_(col.is_(None), col.not_in(values))
    value = read_value(spec.kind, node["value"])
    if op == "contains":
        return _known(col, col.icontains(value, autoescape=True))
    if op == "startswith":
        return _known(col, col.istartswith(value, autoescape=True))
    if op == "ne":
        return or_(col.is_(None), col != value)
    return _known(col, {"eq": col.__eq__, "lt": col.__lt__, "lte": col.__le__, "gt": col.__gt__,
                        "gte": col.__ge__}[op](value))


def _known(col: Any, expr: Any) -> Any:
    """Two-valued logic: an empty field fails a comparison (SQL says NULL, which ``not`` would keep NULL)."""
    return and_(col.is_not(None), expr)
