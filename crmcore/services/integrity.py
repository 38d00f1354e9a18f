"""Turn a database integrity error into a message a user can act on, naming fields by their labels.

SQLite and PostgreSQL word their errors differently and both show SQL names; this reads what
kind of rule was broken (unique, reference, required, check) and which table and columns, and
words it with the entities' field labels in the reader's language. The raw text is never shown.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

_SQLITE = re.compile(r"^(UNIQUE|NOT NULL|CHECK|FOREIGN KEY) constraint failed(?::\s*(.*))?$", re.I)
_PG_KEY = re.compile(r"Key \((?P<cols>[^)]*)\)=")
_PG_STATES = {"23505": "UNIQUE", "23503": "FOREIGN KEY", "23502": "NOT NULL", "23514": "CHECK"}


def _kind_and_columns(orig: Any) -> tuple[str | None, str | None, list[str]]:
    """(kind, table, columns) read from the driver's error, any of them unknown as None/[]."""
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in _PG_STATES:
        diag = getattr(orig, "diag", None)
        table = getattr(diag, "table_name", None)
        cols: list[str] = []
        column = getattr(diag, "column_name", None)
        if column:
            cols = [column]
        else:
            match = _PG_KEY.search(getattr(diag, "message_detail", None) or str(orig))
            if match:
                cols = [c.strip().strip('"') for c in match.group("cols").split(",") if c.strip()]
        return _PG_STATES[state], table, cols
    first = str(orig).splitlines()[0] if orig is not None else ""
    match = _SQLITE.match(first.strip())
    if not match:
        return None, None, []
    kind, where = match.group(1).upper(), match.group(2) or ""
    table, cols = None, []
    for part in where.split(","):
        part = part.strip()
        if "." in part:
            table, col = part.split(".", 1)
            cols.append(col)
    return kind, table, cols


def _labels(ctx: ServiceContext, table: str | None, columns: list[str]) -> str:
    from ..entities import COMMON_LABELS, registered

    labels: dict[str, Any] = {}
    if table:
        try:
            for entity in registered(ctx).values():
                if getattr(entity.model, "__tablename__", None) == table:
                    labels = dict(entity.labels)
                    break
        except Exception:  # noqa: BLE001 - wording an error must never raise another one
            labels = {}
    names = [str(labels.get(c) or COMMON_LABELS.get(c) or c.replace("_", " ")) for c in columns]
    return str(_(", ")).join(names) if names else ""


def integrity_message(ctx: ServiceContext, exc: Any) -> str:
    """The user's message for an ``IntegrityError`` (``exc``), in the reader's language."""
    kind, table, columns = _kind_and_columns(getattr(exc, "orig", None))
    fields = _labels(ctx, table, columns)
    if kind == "UNIQUE":
        if fields:
            return str(_("Another record already has the same %(fields)s.", fields=fields))
        return str(_("Another record already has the same values."))
    if kind == "FOREIGN KEY":
        if fields:
            return str(_("%(fields)s refers to a record that does not exist or was removed.", fields=fields))
        return str(_("The change refers to a record that does not exist, or removes one other records still use."))
    if kind == "NOT NULL":
        if fields:
            return str(_("%(fields)s is required.", fields=fields))
        return str(_("A required value is missing."))
    if kind == "CHECK":
        return str(_("A value is outside what is allowed for this record."))
    return str(_("The change conflicts with existing data; reload and try again."))
