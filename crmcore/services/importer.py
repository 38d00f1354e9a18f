"""Bulk import of customers (CSV files and the bulk API): per-row results, idempotent by code."""
from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from marshmallow import ValidationError as SchemaError

from ..errors import Conflict, CRMError, ValidationError
from ..schemas.customers import CustomerSchema
from .exporter import unguard_cell
from .customers import FIELDS, get_by_code, create_customer, update_customer
from ..i18n import _

ENCODINGS = ("utf-8-sig", "gb18030")
_schema = CustomerSchema(exclude=("contacts", "addresses"))


@dataclass
class RowResult:
    index: int
    status: str  # created, updated, unchanged, rejected
    id: int | None = None
    code: str | None = None
    errors: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "status": self.status, "id": self.id, "code": self.code, "errors": self.errors}


def _from_csv_row(row: dict[str, str]) -> dict[str, Any]:
    """CSV cells to a customer dict: empty cells dropped, ``tags`` split on ';' or ',',
    ``attr.<name>`` / ``attributes.<name>`` columns into custom attributes."""
    data: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            raise ValidationError(_("The row has more cells than the header."), errors={"row": [_("Too many cells.")]})
        key = key.strip()
        value = unguard_cell((value or "").strip())  # the export's guard against spreadsheet formulas
        if not value:
            continue
        if key.startswith(("attr.", "attributes.")):
            attrs[key.split(".", 1)[1]] = value
        elif key == "tags":
            data["tags"] = [t.strip() for t in value.replace("；", ";").replace(",", ";").split(";") if t.strip()]
        else:
            data[key] = value
    if attrs:
        data["attributes"] = attrs
    return data


def import_one(ctx: Any, index: int, raw: dict[str, Any], upsert: bool = True, *, retry: bool = True) -> RowResult:
    """Create or update one customer; any error rejects this row only. When another transaction
    creates the same code at the same moment, the row updates that customer instead."""
    code = raw.get("code") if isinstance(raw, dict) else None
    try:
        if not isinstance(raw, dict):
            raise ValidationError(_("Each row must be an object."), errors={"row": [_("Not an object.")]})
        unknown = set(raw) - set(_schema.fields) - {"tags", "attributes"}
        if unknown:
            raise ValidationError(_("Unknown columns."), errors={k: [_("Unknown field.")] for k in sorted(unknown)})
        existing = get_by_code(ctx, raw["code"]) if raw.get("code") else None
        if existing is not None:
            if not upsert:
                raise ValidationError(_("A customer with this code exists."), errors={"code": [_("Already exists.")]})
            before = existing.version
            customer = update_customer(ctx, existing.id, raw)  # validated there, as every path is
            return RowResult(index, "updated" if customer.version != before else "unchanged", customer.id, customer.code)
        customer = create_customer(ctx, raw)
        return RowResult(index, "created", customer.id, customer.code)
    except SchemaError as exc:
        return RowResult(index, "rejected", code=code, errors=exc.messages_dict)
    except CRMError as exc:
        ctx.session.rollback()
        if (retry and upsert and isinstance(exc, Conflict) and isinstance(raw, dict) and raw.get("code")
                and get_by_code(ctx, raw["code"]) is not None):
            return import_one(ctx, index, raw, upsert, retry=False)  # created meanwhile: update it
        return RowResult(index, "rejected", code=code, errors=exc.errors or {"row": [exc.message]})


def import_rows(ctx: Any, rows: Iterable[dict[str, Any]], upsert: bool = True) -> Iterator[RowResult]:
    """Import rows one by one (each in its own transaction), yielding each row's result."""
    ctx.require("customer.import")
    for index, raw in enumerate(rows, start=1):
        yield import_one(ctx, index, raw, upsert)


SNIFF_BYTES = 1 << 20  # how much text (from the first line that is not plain ASCII) decides the encoding
FIELD_LIMIT = 1 << 30  # the longest cell the CSV reader accepts (its default, 128 KiB, is less than a note)
SNIFF_TOLERANCE = 0.5  # share of those lines the chosen encoding may fail on (they become rejects)


def _check_encoding(encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ValidationError(_("Unknown encoding '%(encoding)s'.", encoding=encoding)) from None
    if "\n,;\"a".encode(name, errors="replace") != b"\n,;\"a":
        raise ValidationError(_("A CSV file in %(encoding)s cannot be read line by line; save it as UTF-8 or GB18030.",
                                encoding=encoding))
    return encoding


def sniff_encoding(path: str) -> str:
    """UTF-8 (with or without BOM) or GB18030, judged on whole lines: from the first line that is
    not plain ASCII, up to :data:`SNIFF_BYTES` of them, so no character is ever cut in two. The
    encoding that decodes the most of those lines wins (UTF-8 on a tie); lines it cannot decode
    become rejected rows later. When neither decodes most of them the file is refused."""
    sample: list[bytes] = []
    size = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not sample and raw.isascii():
                continue
            sample.append(raw)
            size += len(raw)
            if size >= SNIFF_BYTES:
                break
    if not sample:
        return ENCODINGS[0]  # plain ASCII reads the same in both

    def failures(encoding: str) -> int:
        bad = 0
        for raw in sample:
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                bad += 1
        return bad

    best = min(ENCODINGS, key=lambda enc: (failures(enc), ENCODINGS.index(enc)))
    if failures(best) > SNIFF_TOLERANCE * len(sample):
        raise ValidationError(_("The file is neither UTF-8 nor GB18030; give --encoding."))
    return best


def open_csv(path: str, encoding: str | None = None) -> tuple[BinaryIO, str]:
    """Open a CSV file for :func:`read_csv`: the given encoding, or UTF-8 (with or without BOM),
    else GB18030, as :func:`sniff_encoding` decides. The file is read as bytes, line by line."""
    used = _check_encoding(encoding) if encoding else sniff_encoding(path)
    return open(path, "rb"), used


def _decoded_lines(fh: Iterable[bytes], encoding: str, bad: dict[int, int]) -> Iterator[str]:
    """Each physical line decoded on its own; an undecodable one is noted in ``bad`` (line number ->
    byte offset) and decoded with replacement characters, so the CSV reader stays in step."""
    codec = codecs.lookup(encoding).name
    utf8 = codec in ("utf-8", "utf-8-sig")
    for number, raw in enumerate(fh, start=1):
        if number == 1 and utf8 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            yield raw.decode("utf-8" if utf8 else codec)
        except UnicodeDecodeError as exc:
            bad[number] = exc.start + 1
            yield raw.decode("utf-8" if utf8 else codec, errors="replace")


def _undecodable(line: int, offset: int, encoding: str) -> ValidationError:
    message = _("Line %(line)s is not valid %(encoding)s (byte %(byte)s of the line); fix it or give --encoding.",
                line=line, encoding=encoding, byte=offset)
    return ValidationError(message, errors={"row": [message]})


def plain_row(row: dict[Any, Any]) -> dict[str, str]:
    """CSV cells by trimmed column name, values trimmed; more cells than the header is an error."""
    if None in row:
        raise ValidationError(_("The row has more cells than the header."), errors={"row": [_("Too many cells.")]})
    return {k.strip(): (v or "").strip() for k, v in row.items() if k and k.strip()}


def read_csv(fh: Iterable[bytes], encoding: str = "utf-8",
             convert: Callable[[dict[Any, Any]], dict[str, Any]] | None = None
             ) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """Yield ``(line number, row dict)`` for each record of a CSV file opened by :func:`open_csv`,
    or ``(line number, error)`` for a record that cannot be read (undecodable bytes, broken
    quoting, more cells than the header): every record comes out as one or the other. The line
    number is the record's first physical line. ``convert`` turns the cells into the row dict
    (default: a customer's, see :func:`_from_csv_row`; :func:`plain_row` for other records)."""
    convert = convert or _from_csv_row
    bad: dict[int, int] = {}
    if csv.field_size_limit() < FIELD_LIMIT:  # a long note the export wrote must read back
        csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(_decoded_lines(fh, encoding, bad))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ValidationError(_("The header line cannot be read: %(error)s", error=str(exc))) from None
    if bad:
        raise _undecodable(min(bad), bad[min(bad)], encoding)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, ValidationError(_("Line %(line)s cannot be read as CSV: %(error)s", line=start, error=str(exc)),
                                         errors={"row": [str(exc)]})
            start = reader.line_num + 1
            continue
        first, start = start, reader.line_num + 1
        if not cells:  # a blank line is no record
            continue
        broken = [n for n in range(first, reader.line_num + 1) if n in bad]
        if broken:
            yield first, _undecodable(broken[0], bad[broken[0]], encoding)
            continue
        row: dict[Any, Any] = dict(zip(header, cells))
        if len(cells) > len(header):
            row[None] = cells[len(header):]
        for name in header[len(cells):]:
            row[name] = None
        try:
            yield first, convert(row)
        except ValidationError as exc:
            yield first, exc


def customer_columns() -> list[str]:
    return list(FIELDS) + ["tags"]
