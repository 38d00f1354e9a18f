"""Refuse, before they are written, values that do not fit their column (text length, 32-bit integers).

Listened on every session's ``before_flush``: whatever wrote the value (API, admin, importer, sync,
a plugin) gets a ValidationError naming the field and its limit, on SQLite (which would store it)
and on PostgreSQL (which would fail with a raw database error) alike. The limits are read from the
models once per class.
"""
from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BigInteger, Integer, String, inspect
from sqlalchemy.orm import Mapper

from .errors import ValidationError
from .i18n import _

INT32 = 2**31 - 1


@functools.lru_cache(maxsize=None)
def column_limits(cls: type) -> tuple[tuple[str, str, int | None], ...]:
    """``(attribute, table.column, length)`` of every text column with a declared length (``length`` set)
    and every 32-bit integer column (``length`` None) of a mapped class."""
    mapper: Mapper[Any] | None = inspect(cls, raiseerr=False)
    if mapper is None:
        return ()
    out: list[tuple[str, str, int | None]] = []
    for attr in mapper.column_attrs:
        if len(attr.columns) != 1:
            continue
        column: Any = attr.columns[0]
        where = f"{column.table.name}.{column.name}"
        if isinstance(column.type, String) and column.type.length:
            out.append((attr.key, where, int(column.type.length)))
        elif isinstance(column.type, Integer) and not isinstance(column.type, BigInteger):
            out.append((attr.key, where, None))
    return tuple(out)


def check_sizes(session: Any, _flush_context: Any = None, _instances: Any = None) -> None:
    errors: dict[str, list[Any]] = {}
    places: list[str] = []
    for obj in list(session.new) + list(session.dirty):
        cls: type = obj.__class__
        for key, where, length in column_limits(cls):
            value = obj.__dict__.get(key)  # the loaded or assigned value: never a lazy load
            if value is None:
                continue
            if length is not None and isinstance(value, str) and len(value) > length:
                errors[key] = [_("At most %(n)s characters.", n=length)]
                places.append(str(_("%(column)s (%(length)s characters, at most %(limit)s)", column=where,
                                    length=len(value), limit=length)))
            elif length is None and isinstance(value, int) and not isinstance(value, bool) \
                    and not -INT32 - 1 <= value <= INT32:
                errors[key] = [_("Number too large.")]
                places.append(where)
    if errors:
        raise ValidationError(_("A value does not fit its field: %(places)s.", places=", ".join(places)),
                              errors=errors)
