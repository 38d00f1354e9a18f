"""The declarative condition language of workflows and approvals, and its small interpreter.

A condition is JSON data, never code: a leaf ``{"field": "discount", "op": "gt", "value": 15}``,
``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}``, or a named predicate a plugin
registered (``{"predicate": "sales.big_customer", "args": {...}}``). Fields may follow related
records with dots (``customer.owner.team.name``) through mapped columns and relationships only
(no properties, no methods, nothing private or secret), and keys of JSON columns
(``attributes.region``). :func:`validate` returns every problem by path; :func:`evaluate`
answers True or False. Nothing here calls ``eval``.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import NoInspectionAvailable

from ..contracts_workflow import Predicate
from ..errors import ValidationError
from ..i18n import _

MAX_DEPTH = 10
MAX_NODES = 200
MAX_PATH = 5
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "startswith", "is_null",
             "is_true", "is_false", "changed")
NO_VALUE = ("is_null", "is_true", "is_false", "changed")
SECRET_PARTS = ("password", "secret", "token", "hash", "key")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_MISSING = object()


class ConditionError(ValidationError):
    """The condition is not valid."""


def predicates(ctx: Any) -> dict[str, Predicate]:
    """The named predicates plugins registered (``crm_register_condition_predicates``)."""
    from .workflow_registry import collected

    return collected(ctx, "crm_register_condition_predicates", "condition predicate")


def validate(condition: Any, ctx: Any = None, *, known_predicates: dict[str, Any] | None = None) -> list[str]:
    """Every problem of ``condition`` as ``"path: message"``; an empty list means it is valid."""
    if known_predicates is None and ctx is not None:
        known_predicates = predicates(ctx)
    errors: list[str] = []
    count = [0]
    if condition in (None, {}):
        return errors
    _check(condition, "condition", 0, count, known_predicates or {}, errors)
    return errors


def check(condition: Any, ctx: Any = None, *, field: str = "condition") -> Any:
    """Raise ``ValidationError`` naming ``field`` when ``condition`` is not valid; return it otherwise."""
    problems = validate(condition, ctx)
    if problems:
        raise ConditionError(_("The condition is not valid: %(problems)s", problems="; ".join(problems)),
                             errors={field: problems})
    return condition or None


def _check(node: Any, path: str, depth: int, count: list[int], preds: dict[str, Any], errors: list[str]) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        if count[0] == MAX_NODES + 1:
            errors.append(f"{path}: " + str(_("too many conditions (at most %(n)s)", n=MAX_NODES)))
        return
    if depth > MAX_DEPTH:
        errors.append(f"{path}: " + str(_("nested too deep (at most %(n)s levels)", n=MAX_DEPTH)))
        return
    if not isinstance(node, dict):
        errors.append(f"{path}: " + str(_("a condition is an object such as {\"field\": ..., \"op\": ..., \"value\": ...}")))
        return
    keys = set(node)
    if keys & {"all", "any"}:
        key = "all" if "all" in node else "any"
        if len(keys) != 1:
            errors.append(f"{path}: " + str(_("'%(key)s' stands alone; move other keys into its list", key=key)))
        items = node[key]
        if not isinstance(items, list) or not items:
            errors.append(f"{path}.{key}: " + str(_("give a non-empty list of conditions")))
            return
        for i, item in enumerate(items):
            _check(item, f"{path}.{key}.{i}", depth + 1, count, preds, errors)
        return
    if "not" in keys:
        if len(keys) != 1:
            errors.append(f"{path}: " + str(_("'not' stands alone; move other keys into it")))
        _check(node["not"], f"{path}.not", depth + 1, count, preds, errors)
        return
    if "predicate" in keys:
        name = node["predicate"]
        if keys - {"predicate", "args"}:
            errors.append(f"{path}: " + str(_("a predicate takes only 'predicate' and 'args'")))
        if not isinstance(name, str) or name not in preds:
            known = ", ".join(sorted(preds)) or "-"
            errors.append(f"{path}.predicate: " + str(_("unknown predicate %(name)r (known: %(known)s)", name=name, known=known)))
        elif not isinstance(node.get("args", {}), dict):
            errors.append(f"{path}.args: " + str(_("give the arguments as an object")))
        else:
            pred = preds[name]
            if pred.validate is not None:
                for problem in pred.validate(node.get("args") or {}) or []:
                    errors.append(f"{path}.args: {problem}")
        return
    if "field" not in keys:
        errors.append(f"{path}: " + str(_("use 'field'/'op'/'value', 'all', 'any', 'not' or 'predicate'")))
        return
    extra = keys - {"field", "op", "value"}
    if extra:
        errors.append(f"{path}: " + str(_("unknown keys: %(keys)s", keys=", ".join(sorted(extra)))))
    problem = _path_problem(node["field"])
    if problem:
        errors.append(f"{path}.field: {problem}")
    op = node.get("op", "eq")
    if op not in OPERATORS:
        errors.append(f"{path}.op: " + str(_("unknown operator %(op)r (use one of %(ops)s)", op=op, ops=", ".join(OPERATORS))))
        return
    if op in NO_VALUE:
        if "value" in node and op != "is_null":
            errors.append(f"{path}.value: " + str(_("'%(op)s' takes no value", op=op)))
        return
    if "value" not in node:
        errors.append(f"{path}.value: " + str(_("'%(op)s' needs a value", op=op)))
        return
    value = node["value"]
    if op in ("in", "not_in") and not isinstance(value, list):
        errors.append(f"{path}.value: " + str(_("'%(op)s' needs a list", op=op)))
    elif op not in ("in", "not_in") and isinstance(value, (list, dict)):
        errors.append(f"{path}.value: " + str(_("'%(op)s' needs a single value", op=op)))
    elif op in ("startswith",) and not isinstance(value, str):
        errors.append(f"{path}.value: " + str(_("'%(op)s' needs text", op=op)))


def _path_problem(field: Any) -> str | None:
    if not isinstance(field, str) or not field:
        return str(_("name a field, such as 'total' or 'customer.owner.username'"))
    parts = field.split(".")
    if len(parts) > MAX_PATH:
        return str(_("follow at most %(n)s records", n=MAX_PATH - 1))
    for part in parts:
        if not _NAME.match(part):
            return str(_("%(part)r is not a field name", part=part))
        if any(s in part.lower() for s in SECRET_PARTS):
            return str(_("%(part)r cannot be used in a condition", part=part))
    return None


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------


def evaluate(condition: Any, record: Any, ctx: Any = None, *, changes: dict[str, Any] | None = None,
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
    return _eval(condition, record, ctx, changes or {}, preds)


def _eval(node: dict[str, Any], record: Any, ctx: Any, changes: dict[str, Any], preds: dict[str, Any]) -> bool:
    if "all" in node:
        return all(_eval(n, record, ctx, changes, preds) for n in node["all"])
    if "any" in node:
        return any(_eval(n, record, ctx, changes, preds) for n in node["any"])
    if "not" in node:
        return not _eval(node["not"], record, ctx, changes, preds)
    if "predicate" in node:
        return bool(preds[node["predicate"]].func(ctx, record, node.get("args") or {}))
    op = node.get("op", "eq")
    if op == "changed":
        return node["field"] in changes
    return compare(resolve(record, node["field"]), op, node.get("value"))


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
        return {"lt": left < right, "lte": left <= right, "gt": left > right, "gte": left >= right}[op]
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


def explain(condition: Any, record: Any, ctx: Any = None) -> list[tuple[str, Any, bool]]:
    """Each leaf of ``condition`` with the record's value and its result (the admin's live check)."""
    out: list[tuple[str, Any, bool]] = []
    preds = predicates(ctx) if ctx is not None else {}

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
            out.append((f"{path} {node['predicate']}", node.get("args"), _eval(node, record, ctx, {}, preds)))
            return
        out.append((f"{path} {node['field']} {node.get('op', 'eq')} {node.get('value', '')}".rstrip(),
                    resolve(record, node["field"]), _eval(node, record, ctx, {}, preds)))

    if condition:
        walk(condition, "condition")
    return out


Check = Callable[[dict[str, Any]], list[str]]
