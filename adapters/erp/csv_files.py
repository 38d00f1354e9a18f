"""File drops for ERPs without an API: canonical records read from and written to CSV files.

The ERP (or a person) drops ``<stream>.csv`` in the connection's ``directory``; the CRM writes its
changes to ``outgoing/<stream>.csv`` there. Files may be UTF-8 (with or without BOM) or GB18030
(what Excel and many Chinese ERPs export); the encoding is detected, or set by ``encoding``.
Nested data is flattened: one contact and one address per customer row (``contact_*``,
``address_*``), one order line per order row (``line_*``, the order's columns repeated).
"""
from __future__ import annotations

import codecs
import csv
import os
from decimal import InvalidOperation
from pathlib import Path
from typing import Any, Iterator, TextIO

from crmcore.i18n import _

from .base import (STREAMS, Setting, ContactPerson, ErpAdapter, ErpUnreachable, FatalAdapterError, OrderItem, Page,
                   PostalAddress, Record, RetriableAdapterError, SalesOrderRecord)

ENCODINGS = ("utf-8-sig", "gb18030")
CUSTOMER_EXTRA = ("contact_name", "contact_phone", "contact_email", "address_line1", "address_city",
                  "address_postcode", "address_country")
ORDER_LINE = ("line_product_ref", "line_description", "line_quantity", "line_unit_price", "line_total")


def _columns(stream: str) -> list[str]:
    import dataclasses

    names = [f.name for f in dataclasses.fields(STREAMS[stream].record) if f.name not in ("contacts", "addresses",
                                                                                           "lines")]
    if stream == "customers":
        names += list(CUSTOMER_EXTRA)
    if stream == "orders":
        names += list(ORDER_LINE)
    return names


class CsvAdapter(ErpAdapter):
    """CSV file drops. Settings: ``directory``; optional ``encoding`` (``utf-8``, ``gb18030``) and
    ``write_encoding`` (default ``utf-8-sig``, which Excel opens correctly)."""

    name = "csv"
    label = "CSV files"
    streams = tuple(STREAMS)
    writes = ("customers", "orders")
    detects_deletions = ("customers", "products")
    settings = (Setting("directory", _("Folder"), required=True, help=_("The folder the ERP's CSV files are dropped in.")),
                Setting("encoding", _("Encoding of the files read"), help=_("Empty: found from the file (UTF-8 or GB18030).")),
                Setting("write_encoding", _("Encoding of the files written"), help=_("Empty: UTF-8 that Excel opens directly.")))
    required_settings = tuple(s.name for s in settings if s.required)

    def __init__(self, config: dict[str, Any], secret: str | None = None, **kwargs: Any) -> None:
        super().__init__(config, secret, **kwargs)
        if not self.config.get("directory"):
            raise FatalAdapterError("the CSV connection needs a 'directory' in its settings")
        self.directory = Path(self.config["directory"])

    def test_connection(self) -> str:
        if not self.directory.is_dir():
            raise ErpUnreachable(f"the folder {self.directory} does not exist or is not mounted")
        found = sorted(p.name for p in self.directory.glob("*.csv"))
        return f"folder {self.directory}: {', '.join(found) or 'no files yet'}"

    # --- reading ------------------------------------------------------------------------------

    def _open(self, path: Path, encoding: str | None) -> TextIO:
        """The file opened as text, streaming: the given encoding, else the first of ``ENCODINGS``
        that decodes the whole file (checked in chunks, so memory stays flat in the file's size)."""
        if not encoding:
            for candidate in ENCODINGS:
                decoder = codecs.getincrementaldecoder(candidate)()
                try:
                    with open(path, "rb") as raw:
                        while chunk := raw.read(1 << 16):
                            decoder.decode(chunk)
                        decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    continue
                encoding = candidate
                break
            else:
                raise FatalAdapterError(f"{path.name} is neither UTF-8 nor GB18030")
        return open(path, encoding=encoding, newline="")

    def _rows(self, stream: str) -> Iterator[dict[str, str]]:
        """The rows of ``<stream>.csv``, one at a time (the file is never read whole)."""
        path = self.directory / f"{stream}.csv"
        if not path.exists():
            return
        try:
            fh = self._open(path, self.config.get("encoding"))
        except OSError as exc:
            raise RetriableAdapterError(f"cannot read {path}: {exc}") from exc
        with fh:
            for row in csv.DictReader(fh):
                yield {(k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str) or v is None}

    def _records(self, stream: str) -> Iterator[Record]:
        """Records of the stream in file order. An order's lines are consecutive rows with the same
        ``external_id``; an order whose rows are split by another order's is refused (it would be
        read as two orders)."""
        cls = STREAMS[stream].record
        if stream == "orders":
            order: SalesOrderRecord | None = None
            seen: set[str] = set()
            for row in self._rows(stream):
                if order is None or row["external_id"] != order.external_id:
                    if order is not None:
                        yield order
                    if row["external_id"] in seen:
                        raise FatalAdapterError(f"the lines of order {row['external_id']} are not on consecutive rows")
                    seen.add(row["external_id"])
                    order = SalesOrderRecord.from_dict(row)
                if row.get("line_description") or row.get("line_product_ref"):
                    order.lines.append(OrderItem.from_dict({
                        "external_id": f"{row['external_id']}-{len(order.lines) + 1}",
                        "product_ref": row.get("line_product_ref") or None,
                        "description": row.get("line_description") or "", "quantity": row.get("line_quantity") or "1",
                        "unit_price": row.get("line_unit_price") or "0", "line_total": row.get("line_total")}))
            if order is not None:
                yield order
            return
        for row in self._rows(stream):
            record = cls.from_dict(row)
            if stream == "customers":
                if row.get("contact_name"):
                    record.contacts = [ContactPerson(external_id=f"{row['external_id']}-c", name=row["contact_name"],
                                                     phone=row.get("contact_phone") or None,
                                                     email=row.get("contact_email") or None)]
                if row.get("address_line1"):
                    record.addresses = [PostalAddress(external_id=f"{row['external_id']}-a", line1=row["address_line1"],
                                                      city=row.get("address_city") or None,
                                                      postcode=row.get("address_postcode") or None,
                                                      country=row.get("address_country") or None)]
            yield record

    def read(self, stream: str, since: Any, cursor: Any = None) -> Iterator[Page]:
        start = int(cursor or 0)
        position, chunk = 0, []
        records = self._records(stream)
        while True:
            try:
                record = next(records, None)
            except (ValueError, InvalidOperation, KeyError) as exc:
                raise FatalAdapterError(f"{stream}.csv is malformed: {exc}") from exc
            if record is not None:
                if since is not None and getattr(record, "updated_at", None) is not None and record.updated_at < since:
                    continue
                position += 1
                if position <= start:
                    continue
                chunk.append(record)
            if chunk and (record is None or len(chunk) >= self.page_size):
                stamps = [r.updated_at for r in chunk if getattr(r, "updated_at", None) is not None]
                yield Page(records=chunk, cursor=position, max_key=max(stamps) if stamps else None)
                chunk = []
            if record is None:
                return

    def count(self, stream: str, since: Any) -> int | None:
        return sum(len(p.records) for p in self.read(stream, since))

    def existing_ids(self, stream: str) -> set[str] | None:
        if stream not in self.detects_deletions or not (self.directory / f"{stream}.csv").exists():
            return None
        return {r.external_id for r in self._records(stream)}

    # --- writing ------------------------------------------------------------------------------

    def _outgoing(self, stream: str) -> Path:
        folder = self.directory / "outgoing"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{stream}.csv"

    def find(self, kind: str, record: Any) -> str | None:
        path = self._outgoing(kind)
        if not record.crm_ref or not path.exists():
            return None
        with self._open(path, self.config.get("write_encoding")) as fh:
            for row in csv.DictReader(fh):
                if row.get("crm_ref") == record.crm_ref:
                    return row["external_id"]
        return None

    def write(self, kind: str, record: Any, external_id: str | None = None) -> str:
        if kind not in self.writes:
            raise FatalAdapterError(f"the CSV drop does not take {kind}")
        external_id = external_id or f"crm:{record.crm_ref}"
        record.external_id = external_id
        path = self._outgoing(kind)
        encoding = self.config.get("write_encoding") or "utf-8-sig"
        columns = _columns(kind)
        new = not path.exists() or path.stat().st_size == 0
        rows = []
        base = {k: v for k, v in record.to_dict().items() if k in columns}
        if kind == "customers":
            contact = record.contacts[0] if record.contacts else None
            address = record.addresses[0] if record.addresses else None
            base.update(contact_name=contact.name if contact else "", contact_phone=(contact.phone if contact else "")
                        or "", contact_email=(contact.email if contact else "") or "",
                        address_line1=address.line1 if address else "", address_city=(address.city if address else "")
                        or "", address_postcode=(address.postcode if address else "") or "",
                        address_country=(address.country if address else "") or "")
            rows.append(base)
        else:
            for line in record.lines or [None]:
                row = dict(base)
                if line is not None:
                    row.update(line_product_ref=line.product_ref or "", line_description=line.description,
                               line_quantity=str(line.quantity), line_unit_price=str(line.unit_price),
                               line_total="" if line.line_total is None else str(line.line_total))
                rows.append(row)
        with open(path, "a", encoding=encoding if new else encoding.replace("-sig", ""), newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
            fh.flush()
            os.fsync(fh.fileno())
        return external_id

