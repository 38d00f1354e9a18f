"""A condition's leaves in the reader's words, for the live check's table: field labels, operators, values by name."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from ..conditions import explain_leaves, predicates
from ..errors import CRMError
from ..i18n import gettext
from ..models import User
from ..runtime import ServiceContext
from ..services import record_picker
from .policy_form import OP_LABELS, _fields

NO_VALUE = ("is_null", "is_true", "is_false", "changed")


class _Words:
    """Values put in words for one entity's fields: a choice by its label, a user or a record by its name."""

    def __init__(self, ctx: ServiceContext, entity: str) -> None:
        self.ctx = ctx
        self.fields = {f["name"]: f for f in _fields(ctx, entity)}
        self.names: dict[tuple[str, Any], str] = {}

    def label(self, name: str) -> str:
        return str(self.fields.get(name, {}).get("label") or name)

    def value(self, name: str, value: Any) -> str:
        if isinstance(value, (list, tuple, set)):
            return ", ".join(self.value(name, v) for v in value)
        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return gettext("Yes") if value else gettext("No")
        if isinstance(value, dt.datetime):
            return f"{value:%Y-%m-%d %H:%M}"
        field = self.fields.get(name, {})
        choices = {str(c["value"]): str(c["label"]) for c in field.get("choices") or []}
        if str(value) in choices:
            return choices[str(value)]
        related = field.get("related")
        if related and isinstance(value, int) and not isinstance(value, bool):
            return self._name(related, value)
        return str(value)

    def _name(self, related: str, value: int) -> str:
        key = (related, value)
        if key not in self.names:
            if related == "user":
                user = self.ctx.session.scalar(select(User).where(User.id == value))
                self.names[key] = (user.full_name or user.username) if user is not None else f"#{value}"
            else:
                try:
                    found = record_picker.labels(self.ctx, related, [value])
                except CRMError:  # a record type the reader may not read: its number only
                    found = []
                self.names[key] = str(found[0]["label"]) if found else f"#{value}"
        return self.names[key]


def check_rows(ctx: ServiceContext, entity: str, condition: Any, record: Any) -> list[tuple[str, str, bool]]:
    """Each leaf of ``condition`` against ``record`` as (the test in words, the record's value in words, result)."""
    words = _Words(ctx, entity)
    named = predicates(ctx)
    rows = []
    for _path, node, value, ok in explain_leaves(condition, record, ctx):
        if "predicate" in node:
            pred = named.get(node["predicate"])
            test = str(gettext(pred.description) if pred is not None and pred.description else node["predicate"])
            rows.append((test, words.value("", value) if not isinstance(value, dict) else "—", ok))
            continue
        field, op = node["field"], node.get("op", "eq")
        test = f"{words.label(field)} {OP_LABELS.get(op, op)}"
        if op not in NO_VALUE:
            test += f" {words.value(field, node.get('value'))}"
        rows.append((test, words.value(field, value), ok))
    return rows
