"""Rewrite conditions stored in the older forms into the one language, keeping what each one selects.

Frozen: the data migrations call these, so they describe the old forms as they were, not as the
language is now. The trees keep their JSON shape; only leaves the one validator would refuse or
read differently are rewritten.
"""
from __future__ import annotations

from typing import Any, Collection

MAX_LIST = 100
_THREE_VALUED = ("eq", "lt", "lte", "gt", "gte", "in")


def upgrade_evaluated(node: Any) -> Any:
    """A workflow or approval-tier condition (evaluated on records) in the one language.

    ``is_null`` took any value (read as true or false); ``in`` / ``not_in`` lists took nested
    lists (which never matched) and any length (now split into groups of at most 100).
    """
    def leaf(n: dict[str, Any], negated: bool) -> Any:
        op = n.get("op", "eq")
        if op == "is_null" and "value" in n and n["value"] is not None and not isinstance(n["value"], bool):
            return {**n, "value": bool(n["value"])}
        if op in ("in", "not_in") and isinstance(n.get("value"), list):
            values = [v for v in n["value"] if not isinstance(v, (list, dict))]
            if len(values) <= MAX_LIST:
                return {**n, "value": values} if len(values) != len(n["value"]) else n
            parts = [{**n, "value": values[i:i + MAX_LIST]} for i in range(0, len(values), MAX_LIST)]
            return {"any": parts} if op == "in" else {"all": parts}
        return n

    return _map(node, leaf, False)


def upgrade_compiled(node: Any, text_fields: Collection[str], *, three_valued: bool) -> Any:
    """A condition compiled to SQL by a plugin's own compiler (sales metrics, analysis tag rules).

    Old ``is_null`` found only NULL, where the one language also counts empty text as empty; and
    with ``three_valued`` (analysis tag rules) a comparison on an empty field was unknown, so a
    ``not`` around it did not select the row either: under an odd number of ``not`` such a
    comparison becomes ``empty or comparison``.
    """
    def null(field: str | None) -> dict[str, Any]:
        """Exactly NULL (the one language's ``is_null`` also counts empty text)."""
        if field in text_fields:
            return {"all": [{"field": field, "op": "is_null", "value": True}, {"field": field, "op": "ne", "value": ""}]}
        return {"field": field, "op": "is_null", "value": True}

    def leaf(n: dict[str, Any], negated: bool) -> Any:
        field, op = n.get("field"), n.get("op")
        if op == "is_null":
            empty = n.get("value", True) in (True, None) if three_valued else n.get("value") is True
            if empty:
                return null(field)
            if field in text_fields:
                return {"any": [{"field": field, "op": "is_null", "value": False},
                                {"field": field, "op": "eq", "value": ""}]}
            return {"field": field, "op": "is_null", "value": False}
        if three_valued and negated and op in _THREE_VALUED and n.get("value") != []:
            return {"any": [null(field), n]}
        return n

    return _map(node, leaf, False)


def _map(node: Any, leaf: Any, negated: bool) -> Any:
    if not isinstance(node, dict) or not node:
        return node
    for key in ("all", "any"):
        if key in node and isinstance(node[key], list):
            return {**node, key: [_map(n, leaf, negated) for n in node[key]]}
    if "not" in node:
        return {**node, "not": _map(node["not"], leaf, not negated)}
    if "field" in node:
        return leaf(node, negated)
    return node
