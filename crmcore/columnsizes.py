"""Refuse, before they are written, values that do not fit their column (text length, 32-bit integers).

Listened on every session's ``before_flush``: whatever wrote the value (API, admin, importer, sync,
a plugin) gets a ValidationError naming the field and its limit, on SQLite (which would store it)
and on PostgreSQL (which would fail with a raw database error) alike.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, String, inspect

from .errors import ValidationError
from .i18n import _

INT32 = 2**31 - 1


def check_sizes(session: Any, _flush_context: Any = None, _instances: Any = None) -> None:
    errors: dict[str, list[Any]] = {}
    for obj in list(session.new) + list(session.dirty):
        state = inspect(obj)
        for attr in state.mapper.column_attrs:
            value = state.dict.get(attr.key)
            if value is None or len(attr.columns) != 1:
                continue
            column_type = attr.columns[0].type
            if isinstance(value, str) and isinstance(column_type, String) and column_type.length \
                    and len(value) > column_type.length:
                errors[attr.key] = [_("At most %(n)s characters.", n=column_type.length)]
            elif isinstance(value, int) and not isinstance(value, bool) and isinstance(column_type, Integer) \
                    and not isinstance(column_type, BigInteger) and not -INT32 - 1 <= value <= INT32:
                errors[attr.key] = [_("Number too large.")]
    if errors:
        raise ValidationError(_("A value does not fit its field."), errors=errors)
