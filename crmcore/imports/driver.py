"""The one import driver of the CLI and the API: rows in batches, one transaction per batch, a result per row."""
from __future__ import annotations

import contextlib
import csv
import gc
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from sqlalchemy.exc import SQLAlchemyError

from ..errors import AuthenticationRequired, Conflict, CRMError, NotFound, PermissionDenied, ValidationError
from ..events import audit, record_changes
from ..i18n import _
from ..services.unit import unit_of_work
from .contract import REJECTED, STATUSES, ImportKind, ImportOptions, Row, RowResult, plain_cells

if TYPE_CHECKING:
    from ..runtime import ServiceContext

#: ``(line, row or the error that kept the record from being read)``, as ``services.importer.read_csv`` yields
Record = tuple[int, Any]


@dataclass
class Summary:
    """How many rows were created, updated, left unchanged and rejected (they sum to the rows read)."""

    counts: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STATUSES})

    def add(self, result: RowResult) -> None:
        self.counts[result.status] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def present(self) -> dict[str, int]:
        """The counts that are not zero (the bulk API's ``summary``)."""
        return {k: v for k, v in self.counts.items() if v}


def registered_kinds(ctx: ServiceContext) -> dict[str, ImportKind]:
    """``{name: kind}`` of every import kind the core and the plugins register."""
    from ..plugins import collected

    return collected(ctx, "crm_register_import_kinds", "import kind")


def get_kind(ctx: ServiceContext, name: str) -> ImportKind:
    """The import kind of this name; ``NotFound`` naming the kinds there are."""
    kinds = registered_kinds(ctx)
    if name not in kinds:
        raise NotFound(_("There is no import of '%(name)s'; these can be imported: %(kinds)s.", name=name,
                         kinds=", ".join(sorted(kinds))))
    return kinds[name]


def rejected(line: int, key: str | None, exc: Exception) -> RowResult:
    """A rejected row's result from the error that rejected it."""
    if isinstance(exc, CRMError):
        errors = exc.errors or {"row": [exc.message]}
    else:
        errors = {"row": [str(exc)]}
    return RowResult(line, REJECTED, key=key, errors=errors)


def _check(kind: ImportKind, line: int, raw: Any) -> RowResult | None:
    """A row that is no object, or names columns the kind does not know, is rejected before loading."""
    if not isinstance(raw, dict):
        return RowResult(line, REJECTED, errors={"row": [_("Each row must be an object.")]})
    if kind.column_names.issuperset(raw):  # the common case, every key a column: one set operation
        return None
    unknown = sorted(str(k) for k in raw if not isinstance(k, str) or not kind.known(k))
    if unknown:
        key = raw.get(kind.key)
        return RowResult(line, REJECTED, key=str(key) if key is not None else None,
                         errors={k: [_("Unknown field.")] for k in unknown})
    return None


def _runs(kind: ImportKind, rows: list[tuple[int, Row]]) -> Iterator[list[tuple[int, Row]]]:
    """The rows cut where a key comes back, so each run holds a key once and a later row with the same key
    updates what the earlier one wrote, as if the rows were imported one by one."""
    run: list[tuple[int, Row]] = []
    seen: set[str] = set()
    last = None
    for item in rows:
        key = kind.row_key(item[1][1])
        if key is not None and key in seen and not (kind.grouped and key == last):
            yield run
            run, seen = [], set()
        if key is not None:
            seen.add(key)
        run.append(item)
        last = key
    if run:
        yield run


def _units(kind: ImportKind, rows: list[Row]) -> list[list[Row]]:
    """The rows one by one; for a grouped kind, each record's consecutive rows together."""
    if not kind.grouped:
        return [[row] for row in rows]
    units: list[list[Row]] = []
    last: Any = object()
    for row in rows:
        key = kind.row_key(row[1])
        if key is None or key != last:
            units.append([])
        units[-1].append(row)
        last = key
    return units


def load_batch(ctx: ServiceContext, kind: ImportKind, records: list[Record], options: ImportOptions) -> list[RowResult]:
    """Load one batch (``(line, row or error)`` pairs): each run of rows in one transaction, committed.

    A record that could not be read, a row that is no object or has unknown columns is rejected here;
    the kind's loader rejects invalid rows. When the database refuses a run (a key another transaction
    wrote at the same moment), it is loaded again row by row, so one bad row never loses the others."""
    results: dict[int, RowResult] = {}
    good: list[tuple[int, Row]] = []
    for pos, (line, raw) in enumerate(records):
        if isinstance(raw, Exception):
            results[pos] = rejected(line, None, raw)
            continue
        bad = _check(kind, line, raw)
        if bad is not None:
            results[pos] = bad
        else:
            good.append((pos, (line, raw)))
    if kind.grouped:  # a row rejected here takes the other rows of its record with it
        refused = {kind.row_key(raw): r.line for pos, (_line, raw) in enumerate(records)
                   if (r := results.get(pos)) is not None and isinstance(raw, dict) and kind.row_key(raw)}
        for pos, (line, raw) in [item for item in good if refused and kind.row_key(item[1][1]) in refused]:
            key = kind.row_key(raw)
            results[pos] = RowResult(line, REJECTED, key=key, errors={"row": [
                _("Rejected with line %(line)s, a row of the same record.", line=refused[key])]})
        good = [item for item in good if item[0] not in results]
    for run in _runs(kind, good):
        for (pos, _row), result in zip(run, _load_run(ctx, kind, [row for _pos, row in run], options), strict=True):
            results[pos] = result
    return [results[pos] for pos in range(len(records))]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's automatic cycle collector while a batch is loaded and committed: the batch makes
    thousands of objects that all live until its commit, and the collector's passes kept scanning them,
    alive (a third of the time of a first import). The batch's garbage is collected after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_run(ctx: ServiceContext, kind: ImportKind, rows: list[Row], options: ImportOptions, retry: bool = True
              ) -> list[RowResult]:
    try:
        with collector_paused(), unit_of_work(ctx):
            results = kind.load(ctx, rows, options)
            if len(results) != len(rows):
                raise RuntimeError(f"import kind {kind.name!r} returned {len(results)} results for {len(rows)} rows")
            if options.audit == "summary":
                _audit_batch(ctx, kind, rows, results)
        return results
    except (PermissionDenied, AuthenticationRequired):
        raise  # the actor may not import at all: no row is to blame
    except (CRMError, SQLAlchemyError) as exc:
        ctx.session.rollback()
        units = _units(kind, rows)
        if len(units) > 1:
            return [result for unit in units for result in _load_run(ctx, kind, unit, options)]
        if retry and isinstance(exc, Conflict):  # written meanwhile by another transaction: now an update
            return _load_run(ctx, kind, rows, options, retry=False)
        return [rejected(line, _shown_key(kind, raw), exc) for line, raw in rows]


def _audit_batch(ctx: ServiceContext, kind: ImportKind, rows: list[Row], results: list[RowResult]) -> None:
    """``--audit=summary``: one audit entry for the batch, with its row count, lines and counts."""
    summary = Summary()
    for result in results:
        summary.add(result)
    written = [r.id for r in results if r.status in ("created", "updated")]
    audit(ctx, "imported", kind.entity, f"import:{kind.name}", data={
        "kind": kind.name, "rows": len(rows), "first_line": rows[0][0], "last_line": rows[-1][0],
        **summary.counts, "ids": written})


def record(ctx: ServiceContext, options: ImportOptions,
           entries: list[tuple[str, str, Any, dict[str, Any] | None, dict[str, Any] | None]]) -> None:
    """For loaders: the batch's audit entries (per row unless ``--audit=summary``), outbox rows and events,
    each table in one INSERT (see ``crmcore.events.record_changes``)."""
    if entries:
        record_changes(ctx, entries, audit=options.audit == "row")


def _chunks(items: Iterable[Any], size: int, kind: ImportKind | None = None) -> Iterator[list[Any]]:
    """``(line, row)`` items in lists of ``size``; for a grouped kind, a list goes on past ``size`` to the
    end of its last record (the rows with the same key in a row)."""
    grouped = kind is not None and kind.grouped
    chunk: list[Any] = []
    for item in items:
        if len(chunk) >= size:  # the keys are read only here, at a boundary
            key = _key(kind, item[1]) if grouped and kind is not None else None
            if not (key is not None and kind is not None and key == _key(kind, chunk[-1][1])):
                yield chunk
                chunk = []
        chunk.append(item)
    if chunk:
        yield chunk


def _shown_key(kind: ImportKind, raw: dict[str, Any]) -> str | None:
    """The key a rejected row is reported under: its stored form, else the key column as written."""
    value = raw.get(kind.key)
    return kind.row_key(raw) or (str(value) if value not in (None, "") else None)


def _key(kind: ImportKind, raw: Any) -> str | None:
    return kind.row_key(raw) if isinstance(raw, dict) else None


def import_rows(ctx: ServiceContext, kind: ImportKind, rows: list[Any], options: ImportOptions | None = None
                ) -> list[RowResult]:
    """Import the rows of one API call (``line`` = position from 1); at most ``kind.api_max_rows``."""
    options = options or ImportOptions()
    ctx.require(kind.permission)
    if len(rows) > kind.api_max_rows:
        raise TooManyRows(kind.name, kind.api_max_rows, len(rows))
    out: list[RowResult] = []
    for chunk in _chunks(enumerate(rows, start=1), kind.batch_size, kind):
        out += load_batch(ctx, kind, chunk, options)
    return out


class TooManyRows(ValidationError):
    """More rows in one bulk call than the kind takes (413)."""

    status = 413
    code = "too_many_rows"

    def __init__(self, field_name: str, limit: int, given: int) -> None:
        message = _("At most %(limit)s rows per call (this one has %(given)s); send the rest in further calls.",
                    limit=limit, given=given)
        super().__init__(message, errors={field_name: [message]})


def csv_cells(row: dict[Any, Any], *, empty: bool = True) -> dict[str, str]:
    """A CSV record's cells by trimmed column name, trimmed, the export's formula guard undone; more
    cells than the header is an error. ``empty=False``: empty cells left out as well (a later empty cell of a
    column named twice takes the earlier one out, as a second step would)."""
    if None in row:
        raise ValidationError(_("The row has more cells than the header."), errors={"row": [_("Too many cells.")]})
    out = {}
    for k, v in row.items():
        if k and (k := k.strip()):
            v = (v or "").strip()
            if v[:1] == "'":  # only a cell that starts with ' can be guarded
                v = _unguard(v)
            if v or empty:
                out[k] = v
            else:
                out.pop(k, None)
    return out


def plain_csv_cells(row: dict[Any, Any]) -> dict[str, str]:
    """``plain_cells(csv_cells(row))`` in one pass: the row of a kind without its own ``convert``."""
    return csv_cells(row, empty=False)


def _unguard(text: str) -> str:
    from ..services.exporter import unguard_cell

    return unguard_cell(text)


@dataclass
class FileImport:
    """The outcome of :func:`import_file`: the counts, the encoding read and the rejects file (if any)."""

    summary: Summary
    encoding: str
    report_path: str | None


def import_file(ctx: ServiceContext, kind: ImportKind, path: str, *, encoding: str | None = None,
                options: ImportOptions | None = None, report_path: str | None = None,
                progress: Callable[[int], None] | None = None) -> FileImport:
    """Import a CSV file, streamed: ``kind.batch_size`` rows per transaction, memory flat in rows.

    The encoding is ``encoding`` or detected (UTF-8 with or without BOM, GB18030); every record is
    created, updated, unchanged or rejected; rejected ones go to ``report_path`` (line, key, reason),
    a file written only when a row is rejected. ``progress(bytes read so far)`` is called per batch."""
    from .csvfile import open_csv, read_csv

    options = options or ImportOptions()
    ctx.require(kind.permission)
    fh, used = open_csv(path, encoding)
    summary = Summary()
    report = _Report(report_path or os.path.splitext(path)[0] + ".rejected.csv", kind.key)

    def convert(row: dict[Any, Any]) -> dict[str, Any]:
        return kind.convert(csv_cells(row))

    try:
        with fh:
            rows = read_csv(fh, used, convert=plain_csv_cells if kind.convert is plain_cells else convert)
            for chunk in _chunks(rows, kind.batch_size, kind):
                for result in load_batch(ctx, kind, chunk, options):
                    summary.add(result)
                    if result.status == REJECTED:
                        report.write(result)
                if progress is not None:
                    progress(fh.tell())
    finally:
        report.close()
    return FileImport(summary, used, report.path if report.rows else None)


class _Report:
    """The rejected rows and their reasons, a CSV file opened at the first one (UTF-8 with BOM, for Excel)."""

    def __init__(self, path: str, key: str) -> None:
        self.path, self.key, self.rows = path, key, 0
        self._fh: Any = None
        self._writer: Any = None

    def write(self, result: RowResult) -> None:
        if self._writer is None:
            self._fh = open(self.path, "w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._fh)
            self._writer.writerow(["line", self.key, "reason"])
        reason = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                           for k, v in result.errors.items())
        self._writer.writerow([result.line, result.key or "", reason])
        self.rows += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
