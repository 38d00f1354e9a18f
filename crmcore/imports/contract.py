"""What an import kind declares (name, label, permission, key, columns, batch loader) and what it returns per row."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import as_text

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
STATUSES = (CREATED, UPDATED, UNCHANGED, REJECTED)
AUDIT_MODES = ("row", "summary")

#: One row of a batch: ``(line, row dict)``; ``line`` is the file's line number (the CSV record's first
#: physical line) or the 1-based position in an API call's list.
Row = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Column:
    """A documented column of an import: its name, whether every row needs it, and a help text."""

    name: str
    help: Any = ""
    required: bool = False


@dataclass
class RowResult:
    """What became of one row: ``created``, ``updated``, ``unchanged`` or ``rejected`` (with field errors)."""

    line: int
    status: str
    id: Any = None
    key: str | None = None
    errors: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, key_name: str = "key") -> dict[str, Any]:
        """The API's per-row answer; the key is named after the kind's key column (``code`` for customers)."""
        return {"index": self.line, "status": self.status, "id": self.id, key_name: self.key,
                "errors": as_text(self.errors)}


@dataclass(frozen=True)
class ImportOptions:
    """How to import: update rows whose key exists (else reject them); audit per row or one entry per batch."""

    update: bool = True
    audit: str = "row"


#: ``load(ctx, rows, options)`` validates and writes ONE batch in ``ctx.session`` (the driver commits it)
#: and returns one :class:`RowResult` per row, in order. A bad row is rejected with field errors; the
#: others are still written. Raising (a clash found by the database) makes the driver retry row by row.
Loader = Callable[[Any, list[Row], ImportOptions], list[RowResult]]


def plain_cells(cells: dict[str, str]) -> dict[str, Any]:
    """CSV cells to a row: trimmed column names, empty cells left out (the default ``convert``)."""
    return {k: v for k, v in cells.items() if v != ""}


@dataclass(frozen=True)
class ImportKind:
    """A record type that ``crm import <name> FILE`` and ``POST /api/v1/.../bulk`` load in batches.

    :param name: the CLI word and the list's field in the bulk API body (``customers``).
    :param label: what it is called, translated (``_("Customers")``).
    :param permission: needed to import it at all (the loader checks the writes' own permissions too).
    :param key: the idempotency key column (``code``, ``external_id``, ``number``): a row whose key
        exists updates that record (or leaves it unchanged).
    :param columns: the documented columns.
    :param load: the batch loader, see :data:`Loader`.
    :param entity: the audited entity (``AuditLog.entity``) of the records it writes.
    :param prefixes: column prefixes also accepted (``attr.`` for custom fields).
    :param extra_keys: keys a row may carry besides the columns (what ``convert`` makes of prefixed
        columns, e.g. ``attributes``; an API row may send them directly).
    :param convert: turns a CSV record's cells (trimmed, formula guard undone) into a row; default:
        :func:`plain_cells`. Raise ``crmcore.errors.ValidationError`` to reject the record.
    :param key_of: the row's key as stored (folded), to find repeated keys in a batch; default: the
        key column's value, folded.
    :param grouped: consecutive rows with the same key are ONE record (an order's lines): a batch,
        a transaction and the row-by-row retry never cut them apart, and the loader gets them together.
    :param batch_size: rows per transaction.
    :param api_max_rows: the most rows one bulk API call takes.
    """

    name: str
    label: Any
    permission: str
    key: str
    columns: tuple[Column, ...]
    load: Loader
    entity: str
    prefixes: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = ()
    convert: Callable[[dict[str, str]], dict[str, Any]] = plain_cells
    key_of: Callable[[dict[str, Any]], str | None] | None = None
    grouped: bool = False
    batch_size: int = 1000
    api_max_rows: int = 1000

    def known(self, column: str) -> bool:
        """Whether a row may carry this column."""
        return (column in self.column_names or column in self.extra_keys
                or bool(self.prefixes) and column.startswith(self.prefixes))

    @functools.cached_property
    def column_names(self) -> frozenset[str]:
        """The columns' names (built once: every row's every cell is checked against them)."""
        return frozenset(c.name for c in self.columns)

    def row_key(self, row: dict[str, Any]) -> str | None:
        """The row's key as stored, or None when it has none."""
        if self.key_of is not None:
            return self.key_of(row)
        from ..normalize import fold

        value = row.get(self.key)
        return fold(str(value)) or None if value not in (None, "") else None
