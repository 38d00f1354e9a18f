"""The one grammar of conditions: the JSON shapes, the operators, the limits and the validator.

A condition is JSON data, never code: a leaf ``{"field": "discount", "op": "gt", "value": 15}``,
``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}``, or a named predicate a plugin
registered (``{"predicate": "sales.big_customer", "args": {...}}``). Both back-ends
(:mod:`.evaluate` on a loaded record, :mod:`.sql` to a SQLAlchemy expression) validate with
:func:`walk`, so the limits and the messages are the same everywhere.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from ..errors import ValidationError
from ..i18n import _

MAX_DEPTH = 10
MAX_NODES = 200
MAX_PATH = 5
MAX_LIST = 100
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "startswith", "is_null",
             "is_true", "is_false", "changed")
NO_VALUE = ("is_null", "is_true", "is_false", "changed")
LIST_OPS = ("in", "not_in")
SECRET_PARTS = ("password", "secret", "token", "hash", "key")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")

Problems = list[tuple[str, str]]
LeafCheck = Callable[[dict[str, Any], str, Problems], None]
PredicateCheck = Callable[[dict[str, Any], str, Problems], None]


class ConditionError(ValidationError):
    """The condition is not valid; ``errors`` maps each path (``conditions.all.1.value``) to messages."""


def walk(node: Any, path: str, leaf: LeafCheck, predicate: PredicateCheck | None = None) -> Problems:
    """Every problem of the tree ``node`` as ``(path, message)``; ``leaf`` checks each field leaf."""
    problems: Problems = []
    _walk(node, path, 0, [0], leaf, predicate, problems)
    return problems


def _walk(node: Any, path: str, depth: int, count: list[int], leaf: LeafCheck, predicate: PredicateCheck | None,
          problems: Problems) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        if count[0] == MAX_NODES + 1:
            problems.append((path, str(_("too many conditions (at most %(n)s)", n=MAX_NODES))))
        return
    if depth > MAX_DEPTH:
        problems.append((path, str(_("nested too deep (at most %(n)s levels)", n=MAX_DEPTH))))
        return
    if not isinstance(node, dict):
        problems.append((path, str(_("a condition is an object such as {\"field\": ..., \"op\": ..., \"value\": ...}"))))
        return
    keys = set(node)
    if keys & {"all", "any"}:
        key = "all" if "all" in node else "any"
        if len(keys) != 1:
            problems.append((path, str(_("'%(key)s' stands alone; move other keys into its list", key=key))))
        items = node[key]
        if not isinstance(items, list) or not items:
            problems.append((f"{path}.{key}", str(_("give a non-empty list of conditions"))))
            return
        for i, item in enumerate(items):
            _walk(item, f"{path}.{key}.{i}", depth + 1, count, leaf, predicate, problems)
        return
    if "not" in keys:
        if len(keys) != 1:
            problems.append((path, str(_("'not' stands alone; move other keys into it"))))
        _walk(node["not"], f"{path}.not", depth + 1, count, leaf, predicate, problems)
        return
    if "predicate" in keys:
        if predicate is None:
            problems.append((f"{path}.predicate", str(_("unknown predicate %(name)r (known: %(known)s)",
                                                         name=node["predicate"], known="-"))))
        else:
            predicate(node, path, problems)
        return
    if "field" not in keys:
        problems.append((path, str(_("use 'field'/'op'/'value', 'all', 'any', 'not' or 'predicate'"))))
        return
    extra = keys - {"field", "op", "value"}
    if extra:
        problems.append((path, str(_("unknown keys: %(keys)s", keys=", ".join(sorted(extra))))))
    leaf(node, path, problems)


def value_shape(node: dict[str, Any], path: str, problems: Problems) -> bool:
    """Check the operator and the shape of the value (one, a list, none); False when unusable."""
    op = node.get("op", "eq")
    if op not in OPERATORS:
        problems.append((f"{path}.op", str(_("unknown operator %(op)r (use one of %(ops)s)", op=op,
                                             ops=", ".join(OPERATORS)))))
        return False
    if op in NO_VALUE:
        value = node.get("value")
        if op == "is_null" and value is not None and not isinstance(value, bool):
            problems.append((f"{path}.value", str(_("Must be true (is empty) or false (is not empty)."))))
            return False
        if "value" in node and op != "is_null":
            problems.append((f"{path}.value", str(_("'%(op)s' takes no value", op=op))))
            return False
        return True
    if "value" not in node:
        problems.append((f"{path}.value", str(_("'%(op)s' needs a value", op=op))))
        return False
    value = node["value"]
    if op in LIST_OPS:
        if not isinstance(value, list):
            problems.append((f"{path}.value", str(_("'%(op)s' needs a list", op=op))))
            return False
        if len(value) > MAX_LIST or any(isinstance(v, (list, dict)) for v in value):
            problems.append((f"{path}.value", str(_("Must be a list of at most %(max)s values.", max=MAX_LIST))))
            return False
    elif isinstance(value, (list, dict)):
        problems.append((f"{path}.value", str(_("'%(op)s' needs a single value", op=op))))
        return False
    elif op == "startswith" and not isinstance(value, str):
        problems.append((f"{path}.value", str(_("'%(op)s' needs text", op=op))))
        return False
    return True


def path_problem(field: Any) -> str | None:
    """What is wrong with a dotted field path (too long, not a name, a secret), or None."""
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


def by_path(problems: Problems) -> dict[str, list[str]]:
    """``{path: [messages]}`` of a list of problems."""
    out: dict[str, list[str]] = {}
    for path, message in problems:
        out.setdefault(path, []).append(message)
    return out
