"""CSV export of customers in the columns the importer reads, so a file round-trips.

Encodings: ``utf-8-sig`` (UTF-8 with a BOM, what Excel needs to show Chinese; the default),
``utf-8`` and ``gb18030`` (older Excel in China). Rows are written in batches, so memory does not
grow with the number of customers.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Iterator, TYPE_CHECKING

from ..errors import ValidationError
from ..i18n import _
from ..models import Customer
from .custom_fields import active_fields
from .customers import FIELDS, search_statement

if TYPE_CHECKING:
    from ..runtime import ServiceContext

ENCODINGS = {"utf-8-sig": "utf-8-sig", "utf-8": "utf-8", "utf8": "utf-8", "gb18030": "gb18030"}
BATCH = 500
# A cell starting with one of these is a formula to Excel; prefixed with "'" (OWASP CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def check_encoding(name: str | None) -> str:
    """The codec for an export encoding name, or a ValidationError naming the choices."""
    codec = ENCODINGS.get((name or "utf-8-sig").strip().lower())
    if codec is None:
        raise ValidationError(_("Unknown encoding '%(encoding)s'.", encoding=name),
                              errors={"encoding": [_("Choose one of: %(names)s.", names="utf-8-sig, utf-8, gb18030")]})
    return codec


def safe_cell(value: Any) -> str:
    """A cell as text; a would-be formula gets a leading apostrophe. A phone number such as
    ``+86 138 0013 8000`` or a negative number stays as it is. A value that itself starts with an
    apostrophe before such a character gets one more, so :func:`unguard_cell` (the importer)
    gives every value back exactly."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA):
        body = text[1:].replace(" ", "").replace("-", "").replace(".", "", 1)
        if not (text[0] in "+-" and body.isdigit()):
            return "'" + text
    elif text[:1] == "'" and text[1:2] and text[1] in _FORMULA + ("'",):
        return "'" + text
    return text


def unguard_cell(text: str) -> str:
    """Undo :func:`safe_cell`: the apostrophe before a formula character (or before another
    apostrophe) goes; any other text stays as it is."""
    if text[:1] == "'" and text[1:2] and text[1] in _FORMULA + ("'",):
        return text[1:]
    return text


def header(ctx: ServiceContext) -> list[str]:
    """The export's columns: the importer's fields, ``tags`` and one ``attr.<name>`` per custom field."""
    return [*FIELDS, "tags", *(f"attr.{f.name}" for f in active_fields(ctx, "customer"))]


def _row(customer: Customer, columns: list[str]) -> list[str]:
    out = []
    for col in columns:
        if col == "tags":
            out.append(safe_cell(";".join(t.name for t in customer.tags)))
        elif col.startswith("attr."):
            out.append(safe_cell((customer.attributes or {}).get(col[5:])))
        else:
            out.append(safe_cell(getattr(customer, col)))
    return out


def iter_customer_rows(ctx: ServiceContext, **filters: Any) -> Iterator[list[str]]:
    """The header, then one row per customer the actor may see (matching ``filters``), by id."""
    columns = header(ctx)
    yield columns
    stmt = search_statement(ctx, **filters).order_by(Customer.id)
    last = 0
    while True:
        batch = list(ctx.session.scalars(stmt.where(Customer.id > last).limit(BATCH)).unique())
        if not batch:
            return
        for customer in batch:
            yield _row(customer, columns)
        last = batch[-1].id
        for customer in batch:  # keep memory flat on large exports (the actor stays attached)
            ctx.session.expunge(customer)


def iter_customer_csv(ctx: ServiceContext, encoding: str | None = None, **filters: Any) -> Iterator[bytes]:
    """The export as encoded byte chunks (the BOM first for ``utf-8-sig``)."""
    codec = check_encoding(encoding)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    first = True
    try:
        for i, row in enumerate(iter_customer_rows(ctx, **filters)):
            writer.writerow(row)
            if i % 200 == 0 or first:
                chunk = buf.getvalue()
                buf.seek(0)
                buf.truncate()
                yield chunk.encode(codec) if first else chunk.encode(codec.replace("-sig", ""))
                first = False
        rest = buf.getvalue()
        if rest:
            yield rest.encode(codec.replace("-sig", ""))
    finally:
        # a streamed export outlives its request: end the read transaction here, not at teardown
        ctx.session.rollback()
