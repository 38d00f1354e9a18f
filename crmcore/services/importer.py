"""The customers' bulk import of a list of rows, and the CSV reading every importer shares (kept here
for the callers that import it from this module; it lives in :mod:`crmcore.imports.csvfile`).

The import itself runs through :mod:`crmcore.imports` (batches, set-based writes).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..imports import csvfile
from ..imports.csvfile import ENCODINGS, FIELD_LIMIT, SNIFF_BYTES, open_csv, plain_row, sniff_encoding

if TYPE_CHECKING:
    from ..runtime import ServiceContext

__all__ = ["ENCODINGS", "FIELD_LIMIT", "SNIFF_BYTES", "import_rows", "open_csv", "plain_row", "read_csv",
           "sniff_encoding"]


def _from_csv_row(row: dict[Any, Any]) -> dict[str, Any]:
    """CSV cells to a customer row (see ``crmcore.imports.customers.from_cells``)."""
    from ..imports.customers import from_cells
    from ..imports.driver import csv_cells

    return from_cells(csv_cells(row))


def read_csv(fh: Iterable[bytes], encoding: str = "utf-8",
             convert: Callable[[dict[Any, Any]], dict[str, Any]] | None = None
             ) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """:func:`crmcore.imports.csvfile.read_csv` with a customer's row as the default conversion."""
    return csvfile.read_csv(fh, encoding, convert or _from_csv_row)


def import_rows(ctx: ServiceContext, rows: Iterable[Any], upsert: bool = True) -> Iterator[Any]:
    """Import customer rows (dicts of the import's columns), yielding each row's ``RowResult``: created,
    updated (by code), unchanged or rejected with its reasons. Rows are written in batches."""
    from ..imports.contract import ImportOptions
    from ..imports.driver import get_kind, load_batch

    kind = get_kind(ctx, "customers")
    ctx.require(kind.permission)
    batch: list[tuple[int, Any]] = []
    for line, raw in enumerate(rows, start=1):
        batch.append((line, raw))
        if len(batch) >= kind.batch_size:
            yield from load_batch(ctx, kind, batch, ImportOptions(update=upsert))
            batch = []
    if batch:
        yield from load_batch(ctx, kind, batch, ImportOptions(update=upsert))
