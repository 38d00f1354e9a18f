"""Bulk import of customers (CSV files and the bulk API): per-row results, idempotent by code."""
from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from marshmallow import ValidationError as SchemaError

from ..errors import CRMError, ValidationError
from ..schemas.customers import CustomerSchema
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
        value = (value or "").strip()
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


def import_one(ctx: Any, index: int, raw: dict[str, Any], upsert: bool = True) -> RowResult:
    """Create or update one customer; any error rejects this row only."""
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
            data = _schema.load(raw, partial=True)
            before = existing.version
            customer = update_customer(ctx, existing.id, data)
            return RowResult(index, "updated" if customer.version != before else "unchanged", customer.id, customer.code)
        data = _schema.load(raw)
        customer = create_customer(ctx, data)
        return RowResult(index, "created", customer.id, customer.code)
    except SchemaError as exc:
        return RowResult(index, "rejected", code=code, errors=exc.messages_dict)
    except CRMError as exc:
        ctx.session.rollback()
        return RowResult(index, "rejected", code=code, errors=exc.errors or {"row": [exc.message]})


def import_rows(ctx: Any, rows: Iterable[dict[str, Any]], upsert: bool = True) -> Iterator[RowResult]:
    """Import rows one by one (each in its own transaction), yielding each row's result."""
    ctx.require("customer.import")
    for index, raw in enumerate(rows, start=1):
        yield import_one(ctx, index, raw, upsert)


def open_csv(path: str, encoding: str | None = None) -> tuple[io.TextIOBase, str]:
    """Open a CSV file as text: the given encoding, or UTF-8 (with or without BOM), else GB18030."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValidationError(_("Unknown encoding '%(encoding)s'.", encoding=encoding)) from None
        return open(path, encoding=encoding, newline=""), encoding
    with open(path, "rb") as fh:
        sample = fh.read(1 << 20)
    for enc in ENCODINGS:
        try:
            sample.decode(enc) if len(sample) < (1 << 20) else sample[: (1 << 20) - 4].decode(enc, errors="strict")
        except UnicodeDecodeError:
            continue
        return open(path, encoding=enc, newline=""), enc
    raise ValidationError(_("The file is neither UTF-8 nor GB18030; give --encoding."))


def read_csv(fh: io.TextIOBase) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """Yield ``(line number, row dict)`` or ``(line number, error)`` for an undecodable or broken row."""
    reader = csv.DictReader(fh)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            yield reader.line_num, exc
            continue
        try:
            yield reader.line_num, _from_csv_row(row)
        except ValidationError as exc:
            yield reader.line_num, exc


def customer_columns() -> list[str]:
    return list(FIELDS) + ["tags"]
