"""Back-end 1: evaluate a condition against a loaded record (workflows, approval tiers, live checks).

Fields may follow related records with dots (``customer.owner.team.name``) through mapped columns
and relationships only (no properties, no methods, nothing private or secret), and keys of JSON
columns (``attributes.region``). :func:`validate` returns every problem by path; :func:`evaluate`
answers True or False. Nothing here calls ``eval``.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping, TYPE_CHECKING

from sqlalchemy import JSON
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import NoInspectionAvailable

from ..contracts_workflow import Predicate
from ..i18n import _
from .grammar import SECRET_PARTS, ConditionError, Problems, path_problem, value_shape, walk
from .sql import Field, check_leaf, near_names

if TYPE_CHECKING:
    from ..runtime import ServiceContext

_MISSING = object()


def predicates(ctx: ServiceContext) -> dict[str, Predicate]:
    """The named predicates plugins registered (``crm_register_condition_predicates``)."""
    from ..services.workflow_registry import collected

    return collected(ctx, "crm_register_condition_predicates", "condition predicate")


def validate(condition: Any, ctx: ServiceContext | None = None, *, known_predicates: dict[str, Any] | None = None,
             model: Any = None, fields: Mapping[str, Field] | None = None) -> list[str]:
    """Every problem of ``condition`` as ``"path: message"``; an empty list means it is valid.

    :param model: the mapped class the condition will read; when given, each field path must
        exist on it (an unknown name is refused listing the nearest ones).
    :param fields: the entity's typed fields (its metadata): a field among them gets the operators
        of its type, a value of its type and one of its choices; a path beyond them (two hops
        away, a key of a JSON column) is checked against ``model``.
    """
    if known_predicates is None and ctx is not None:
        known_predicates = predicates(ctx)
    if condition in (None, {}):
        return []
    preds = known_predicates or {}

    def leaf(node: dict[str, Any], path: str, problems: Problems) -> None:
        if fields is not None and node["field"] in fields:
            check_leaf(node, path, fields, problems, extra_ops=("changed",))
            return
        problem = path_problem(node["field"])
        if problem is None and model is not None:
            problem = unknown_field(model, node["field"], fields)
        if problem:
            problems.append((f"{path}.field", problem))
        value_shape(node, path, problems)

    def predicate(node: dict[str, Any], path: str, problems: Problems) -> None:
        name = node["predicate"]
        if set(node) - {"predicate", "args"}:
            problems.append((path, str(_("a predicate takes only 'predicate' and 'args'"))))
        if not isinstance(name, str) or name not in preds:
            known = ", ".join(sorted(preds)) or "-"
            problems.append((f"{path}.predicate", str(_("unknown predicate %(name)r (known: %(known)s)",
                                                         name=name, known=known))))
        elif not isinstance(node.get("args", {}), dict):
            problems.append((f"{path}.args", str(_("give the arguments as an object"))))
        elif (check_args := preds[name].validate) is not None:
            for problem in check_args(node.get("args") or {}) or []:
                problems.append((f"{path}.args", problem))

    return [f"{path}: {message}" for path, message in walk(condition, "condition", leaf, predicate)]


def unknown_field(model: Any, path: str, fields: Mapping[str, Field] | None = None) -> str | None:
    """Why the dotted ``path`` does not name a field of ``model`` (with the nearest names), or None.

    Relationships lead to the related model; a JSON column ends the check (the rest are its keys).
    With the entity's ``fields``, the near names offered for an unknown first name are theirs.
    """
    mapper = sa_inspect(model)
    parts = path.split(".")
    for i, part in enumerate(parts):
        if part not in mapper.attrs:
            names = [n for n in mapper.attrs.keys() if not n.startswith("_")
                     and not any(s in n.lower() for s in SECRET_PARTS)]
            if i == 0 and fields:
                names = list(fields)
            return str(_("Unknown field %(name)r; did you mean: %(names)s?", name=part,
                          names=", ".join(near_names(part, dict.fromkeys(names)))))
        attr = mapper.attrs[part]
        if hasattr(attr, "mapper"):
            mapper = attr.mapper
            continue
        columns = getattr(attr, "columns", None) or []
        if columns and isinstance(columns[0].type, JSON):
            return None  # the rest of the path are keys of the JSON value
        if i < len(parts) - 1:
            return str(_("%(part)r is not a related record", part=part))
    return None


def check(condition: Any, ctx: ServiceContext | None = None, *, field: str = "condition") -> Any:
    """Raise ``ConditionError`` naming ``field`` when ``condition`` is not valid; return it otherwise."""
    problems = validate(condition, ctx)
    if problems:
        raise ConditionError(_("The condition is not valid: %(problems)s", problems="; ".join(problems)),
                             errors={field: problems})
    return condition or None


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------


def evaluate(condition: Any, record: Any, ctx: ServiceContext | None = None, *, changes: dict[str, Any] | None = None,
             known_predicates: dict[str, Any] | None = None) -> bool:
    """Whether ``record`` satisfies ``condition`` (an empty condition always holds).

    :param changes: ``{field: [before, after]}`` of the write being checked (for ``changed``).
    :raises ValidationError: when the condition is not valid.
    """
    if condition in (None, {}):
        return True
    preds = known_predicates if known_predicates is not None else (predicates(ctx) if ctx is not None else {})
    problems = validate(condition, known_predicates=preds)
    if problems:
        raise ConditionError(_("The condition is not valid: %(problems)s", problems="; ".join(problems)),
                             errors={"condition": problems})
    values = computed_values(ctx, type(record)) if ctx is not None else {}
    return _eval(condition, record, ctx, changes or {}, preds, values)


Computed = Mapping[str, Callable[[Any], Any]]


def computed_values(ctx: ServiceContext, model: Any) -> dict[str, Callable[[Any], Any]]:
    """The computed fields plugins registered for the entity of ``model`` that can be read on a loaded
    record (``ComputedField.value``), by field name: the evaluating back-end of those fields."""
    from ..services.workflow_registry import collected

    names = {e.name for e in collected(ctx, "crm_register_entities", "entity").values() if e.model is model}
    return {f.field: f.value for f in collected(ctx, "crm_register_computed_fields", "computed field").values()
            if f.entity in names and f.value is not None}


def _eval(node: dict[str, Any], record: Any, ctx: ServiceContext | None, changes: dict[str, Any], preds: dict[str, Any],
          values: Computed | None = None) -> bool:
    values = values or {}
    if "all" in node:
        return all(_eval(n, record, ctx, changes, preds, values) for n in node["all"])
    if "any" in node:
        return any(_eval(n, record, ctx, changes, preds, values) for n in node["any"])
    if "not" in node:
        return not _eval(node["not"], record, ctx, changes, preds, values)
    if "predicate" in node:
        return bool(preds[node["predicate"]].func(ctx, record, node.get("args") or {}))
    op = node.get("op", "eq")
    if op == "changed":
        return node["field"] in changes
    field = node["field"]
    actual = values[field](record) if field in values else resolve(record, field)
    return compare(actual, op, node.get("value"))


def resolve(record: Any, path: str) -> Any:
    """The value at a dotted ``path`` of ``record``, or None when any step is missing.

    Only mapped columns and relationships of SQLAlchemy objects and keys of dicts are followed.
    """
    value = record
    for part in path.split("."):
        if value is None:
            return None
        if isinstance(value, dict):
            value = value.get(part)
            continue
        try:
            mapper = sa_inspect(type(value))
        except NoInspectionAvailable:
            return None
        if part not in mapper.attrs or any(s in part.lower() for s in SECRET_PARTS):
            return None  # secrets are never read, whatever reached here unvalidated
        value = getattr(value, part)
    return value


def compare(actual: Any, op: str, expected: Any) -> bool:
    """Apply one operator; an empty value fails every comparison except ``ne``, ``not_in``, ``is_null``."""
    if op == "is_null":
        want = True if expected is None else bool(expected)
        return (actual is None or actual == "") is want
    if op == "is_true":
        return actual is True
    if op == "is_false":
        return actual is False
    if actual is None:
        return op in ("ne", "not_in") and expected is not None
    if op in ("in", "not_in"):
        found = any(_equal(actual, item) for item in expected)
        return found if op == "in" else not found
    if op == "contains":
        if isinstance(actual, (list, tuple, set)):
            return any(_equal(a, expected) for a in actual)
        return str(expected).lower() in str(actual).lower()
    if op == "startswith":
        return str(actual).lower().startswith(str(expected).lower())
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    left, right = _comparable(actual, expected)
    if left is _MISSING:
        return False
    try:
        return bool({"lt": left < right, "lte": left <= right, "gt": left > right, "gte": left >= right}[op])
    except TypeError:
        return False


def _equal(actual: Any, expected: Any) -> bool:
    left, right = _comparable(actual, expected)
    return left is not _MISSING and left == right


def _comparable(actual: Any, expected: Any) -> tuple[Any, Any]:
    """Bring the stored value and the condition's value to one type (numbers as Decimal, dates)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        if isinstance(actual, bool) and isinstance(expected, bool):
            return actual, expected
        return (_MISSING, None)
    if isinstance(actual, (int, float, Decimal)):
        number = _decimal(expected)
        return (Decimal(str(actual)), number) if number is not None else (_MISSING, None)
    if isinstance(actual, dt.datetime):
        when = _datetime(expected)
        return (actual, when) if when is not None else (_MISSING, None)
    if isinstance(actual, dt.date):
        day = _date(expected)
        return (actual, day) if day is not None else (_MISSING, None)
    if isinstance(actual, str):
        return actual, str(expected) if isinstance(expected, (str, int, Decimal)) else expected
    return actual, expected


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def explain(condition: Any, record: Any, ctx: ServiceContext | None = None) -> list[tuple[str, Any, bool]]:
    """Each leaf of ``condition`` with the record's value and its result (the API's live check): the leaf written
    as its path and its JSON words (``condition.all.0 stage eq lead``)."""
    out: list[tuple[str, Any, bool]] = []
    for path, node, value, ok in explain_leaves(condition, record, ctx):
        if "predicate" in node:
            out.append((f"{path} {node['predicate']}", value, ok))
        else:
            out.append((f"{path} {node['field']} {node.get('op', 'eq')} {node.get('value', '')}".rstrip(), value, ok))
    return out


def explain_leaves(condition: Any, record: Any, ctx: ServiceContext | None = None) -> list[tuple[str, dict[str, Any], Any, bool]]:
    """Each leaf of ``condition`` as ``(path, leaf, the record's value, result)``; a predicate's value is its
    arguments (for a caller that puts the leaf in words: the admin's live check)."""
    out: list[tuple[str, dict[str, Any], Any, bool]] = []
    preds = predicates(ctx) if ctx is not None else {}
    values = computed_values(ctx, type(record)) if ctx is not None else {}

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        for key in ("all", "any"):
            if key in node:
                for i, item in enumerate(node[key]):
                    walk(item, f"{path}.{key}.{i}")
                return
        if "not" in node:
            walk(node["not"], f"{path}.not")
            return
        if "predicate" in node:
            out.append((path, node, node.get("args"), _eval(node, record, ctx, {}, preds, values)))
            return
        out.append((path, node, values[node["field"]](record) if node["field"] in values else resolve(record, node["field"]),
                    _eval(node, record, ctx, {}, preds, values)))

    if condition:
        walk(condition, "condition")
    return out
