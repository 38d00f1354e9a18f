"""Text that does not fit its column, found before the sync's writes are flushed (lengths read from the models).

PostgreSQL refuses a value longer than its ``VARCHAR(n)`` and SQLite stores it silently; either way
the record must become a sync issue and the page go on. The check runs for every record of every
stream, whichever plugin stores it, because it looks at the rows about to be written, not at records.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
from typing import Any, Iterator

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Session

from crmcore.errors import SkippableRecordError
from crmcore.i18n import _
from crmcore.models import ExternalRef, SyncState

from .models import SyncIssue, SyncRun

# The sync's own bookkeeping is not the record's content (its ids are the ERP's, its reasons are Text).
_BOOKKEEPING = (ExternalRef, SyncState, SyncIssue, SyncRun)


@functools.lru_cache(maxsize=None)
def column_limits(cls: type) -> tuple[tuple[str, str, int], ...]:
    """``(attribute, table.column, length)`` of every text column of a mapped class with a declared length."""
    mapper = inspect(cls, raiseerr=False)
    if mapper is None or issubclass(cls, _BOOKKEEPING):
        return ()
    out = []
    for attr in mapper.column_attrs:
        for column in attr.columns:
            length = getattr(column.type, "length", None)
            if isinstance(column.type, String) and length:
                out.append((attr.key, f"{column.table.name}.{column.name}", int(length)))
    return tuple(out)


def too_long(objects: Any) -> list[str]:
    """``table.column (n characters, at most m)`` for each value of ``objects`` that does not fit."""
    found = []
    for obj in objects:
        for key, where, length in column_limits(type(obj)):
            value = obj.__dict__.get(key)  # the loaded or assigned value: never a lazy load
            if isinstance(value, str) and len(value) > length:
                found.append(_("%(column)s (%(length)s characters, at most %(limit)s)", column=where,
                               length=len(value), limit=length))
    return found


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    found = too_long(itertools.chain(session.new, session.dirty))
    if found:
        raise SkippableRecordError(_("Text too long for the CRM: %(fields)s.",
                                     fields=", ".join(str(f) for f in found)))


@contextlib.contextmanager
def lengths_checked(session: Session) -> Iterator[None]:
    """Refuse, with ``SkippableRecordError``, any flush of this session that holds text longer than its column."""
    event.listen(session, "before_flush", _before_flush)
    try:
        yield
    finally:
        event.remove(session, "before_flush", _before_flush)
