"""The ERP adapter contract: canonical records, stream definitions, errors and the retry policy.

Every adapter (Tryton, Odoo, CSV file drops) reads pages of these canonical records from a
bookmark and writes CRM-side changes back, in the style of the Singer/Meltano SDK: a stream has a
replication key, pages are yielded with the bookmark value reached, failures are sorted into
retriable, fatal and skippable.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, ClassVar, Iterator, TypeVar

from crmcore.errors import AdapterError, FatalAdapterError, RetriableAdapterError
from crmcore.i18n import _

log = logging.getLogger(__name__)

__all__ = ["ConnectionRefused", "ErpUnreachable", "FatalAdapterError", "RetriableAdapterError",
           "SkippableRecordError"]


class SkippableRecordError(AdapterError):
    """One record cannot be processed; skip it and record why (it is kept as a sync issue)."""

    status = 422


class ConnectionRefused(FatalAdapterError):
    """The ERP refuses the connection itself (wrong user or password, unknown database): nothing of it
    can be read or written until the connection is fixed, so its other streams are not tried."""


class ErpUnreachable(RetriableAdapterError):
    """The ERP's server did not accept a connection (refused, no route, connect timeout). Retried within
    one call; once a call has used its retries the server counts as down for the rest of the run."""

# ---------------------------------------------------------------------------------------------
# Canonical records
# ---------------------------------------------------------------------------------------------


@dataclass
class Record:
    """A record as the ERP holds it; ``external_id`` is the ERP's id, stable across renames."""

    external_id: str

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Record":
        """Build the record from a dict (e.g. a plugin's export or a CSV row); unknown keys are ignored."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for name, f in known.items():
            if name not in data:
                continue
            if data[name] in (None, "") and str(f.type) == "bool":
                continue  # a blank flag (an empty ``active`` cell) keeps its default
            values[name] = _coerce(f.type, data[name])
        return cls(**values)

    def fingerprint(self) -> str:
        """A hash of the content (not of ``updated_at``): unchanged records are skipped on re-runs."""
        content = self.to_dict()
        content.pop("updated_at", None)
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


def _plain(value: Any) -> Any:
    """A record as JSON-able data (a faster ``asdict``: records are small trees of plain values)."""
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:
        return {name: _plain(getattr(value, name)) for name in fields}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return _jsonable(value)


_PLAIN = (str, int, float, bool, type(None))


def _jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:  # most values: no conversion
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _coerce(kind: Any, value: Any) -> Any:
    """Turn JSON-ish values (strings from CSV, dicts from exports) into the field's type."""
    kind = str(kind)
    if value is None or value == "":
        return [] if kind.startswith("list[") else ("" if kind == "str" else None)
    if kind.startswith("Decimal"):
        return Decimal(str(value))
    if kind.startswith("dt.date |") or kind == "dt.date":
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    if kind.startswith("dt.datetime"):
        if isinstance(value, dt.datetime):
            return value
        parsed = dt.datetime.fromisoformat(str(value))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    if kind.startswith("bool"):
        return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "y")
    if kind.startswith("list[ContactPerson]"):
        return [v if isinstance(v, ContactPerson) else ContactPerson.from_dict(v) for v in value]
    if kind.startswith("list[PostalAddress]"):
        return [v if isinstance(v, PostalAddress) else PostalAddress.from_dict(v) for v in value]
    if kind.startswith("list[OrderItem]"):
        return [v if isinstance(v, OrderItem) else OrderItem.from_dict(v) for v in value]
    return value


@dataclass
class ContactPerson(Record):
    """A contact person (or contact mechanism group) of a customer."""

    name: str = ""
    title: str | None = None
    phone: str | None = None
    mobile: str | None = None
    email: str | None = None


@dataclass
class PostalAddress(Record):
    """A customer's address."""

    line1: str = ""
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postcode: str | None = None
    country: str | None = None


@dataclass
class CustomerRecord(Record):
    """A customer (a party in Tryton, a partner in Odoo) with its contacts and addresses."""

    name: str = ""
    code: str | None = None
    kind: str = "organization"
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    currency: str | None = None
    active: bool = True
    contacts: list[ContactPerson] = field(default_factory=list)
    addresses: list[PostalAddress] = field(default_factory=list)
    crm_ref: str | None = None  # the CRM customer code when the ERP keeps it (set on push)
    updated_at: dt.datetime | None = None


@dataclass
class ProductRecord(Record):
    """A sellable product."""

    code: str = ""
    name: str = ""
    unit: str | None = None
    list_price: Decimal | None = None
    currency: str | None = None
    category: str | None = None
    active: bool = True
    updated_at: dt.datetime | None = None


@dataclass
class PriceRecord(Record):
    """One product's price in one named price list."""

    price_list: str = ""
    product_ref: str = ""
    price: Decimal | None = None
    currency: str | None = None
    updated_at: dt.datetime | None = None


@dataclass
class OrderItem(Record):
    """A line of a sales order; ``product_ref`` is the ERP product id."""

    product_ref: str | None = None
    description: str = ""
    quantity: Decimal = Decimal("1")
    unit_price: Decimal = Decimal("0")
    line_total: Decimal | None = None


@dataclass
class SalesOrderRecord(Record):
    """A sales order (``state`` is one of draft, quotation, confirmed, done, cancelled)."""

    number: str = ""
    customer_ref: str = ""
    order_date: dt.date | None = None
    currency: str | None = None
    state: str = "confirmed"
    total: Decimal | None = None
    crm_ref: str | None = None  # the CRM order number when the order was pushed from the CRM
    lines: list[OrderItem] = field(default_factory=list)
    updated_at: dt.datetime | None = None


@dataclass
class InvoiceRecord(Record):
    """A customer invoice with what is still to pay (``amount_due``)."""

    number: str = ""
    customer_ref: str = ""
    order_ref: str | None = None
    invoice_date: dt.date | None = None
    due_date: dt.date | None = None
    currency: str | None = None
    amount_total: Decimal = Decimal("0")
    amount_due: Decimal = Decimal("0")
    state: str = "open"  # draft, open, paid, cancelled
    updated_at: dt.datetime | None = None


@dataclass
class PaymentRecord(Record):
    """A payment received against an invoice."""

    invoice_ref: str = ""
    paid_on: dt.date | None = None
    amount: Decimal = Decimal("0")
    currency: str | None = None
    updated_at: dt.datetime | None = None


@dataclass
class CreditLimitRecord(Record):
    """A customer's credit limit (``external_id`` is the customer's ERP id)."""

    customer_ref: str = ""
    credit_limit: Decimal | None = None
    currency: str | None = None
    updated_at: dt.datetime | None = None


# ---------------------------------------------------------------------------------------------
# Streams and pages
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """A stream of one kind of record, read incrementally by ``replication_key``.

    ``key_kind`` is ``timestamp`` (read again from the bookmark minus an overlap window, as ERP
    clocks and transactions make the newest rows visible late) or ``id`` (strictly increasing).
    """

    name: str
    record: type[Record]
    replication_key: str = "updated_at"
    key_kind: str = "timestamp"
    depends_on: tuple[str, ...] = ()


STREAMS: dict[str, Stream] = {s.name: s for s in (
    Stream("customers", CustomerRecord),
    Stream("products", ProductRecord),
    Stream("prices", PriceRecord, depends_on=("products",)),
    Stream("orders", SalesOrderRecord, depends_on=("customers", "products")),
    Stream("invoices", InvoiceRecord, depends_on=("customers", "orders")),
    Stream("payments", PaymentRecord, depends_on=("invoices",)),
    Stream("credit_limits", CreditLimitRecord, depends_on=("customers",)),
)}
STREAM_ORDER = tuple(STREAMS)


@dataclass
class Page:
    """Records read in one request.

    ``cursor`` is where the next page starts (opaque to the engine, e.g. the last id read), so a
    run killed after this page resumes after it; ``max_key`` is the highest replication-key value
    in the page (the bookmark becomes the highest of the whole run once the stream is complete,
    as pages need not be sorted by it).
    """

    records: list[Record]
    cursor: Any = None
    max_key: Any = None


# ---------------------------------------------------------------------------------------------
# Retry with exponential backoff and jitter
# ---------------------------------------------------------------------------------------------

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and a total time budget."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 10.0
    budget: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** attempt))

    def run(self, func: Callable[[], T], what: str = "request") -> T:
        """Call ``func``; retry ``RetriableAdapterError`` only, re-raising the last one."""
        started = time.monotonic()
        for attempt in range(self.attempts):
            try:
                return func()
            except RetriableAdapterError as exc:
                wait = self.delay(attempt)
                if attempt + 1 >= self.attempts or time.monotonic() - started + wait > self.budget:
                    raise
                log.info("%s failed (%s); retry %s in %.2fs", what, exc, attempt + 1, wait)
                self.sleep(wait)
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# The adapter contract
# ---------------------------------------------------------------------------------------------

SETTING_KINDS = ("text", "url", "number", "bool")


@dataclass(frozen=True)
class Setting:
    """One setting an adapter reads from its connection's ``settings``: its key, its label (lazily
    translated), whether a connection must give it, and its kind (``text``, ``url``, ``number``, ``bool``);
    the admin shows one labelled input per setting and the connection service checks the kind."""

    name: str
    label: Any
    required: bool = False
    kind: str = "text"
    help: Any = None


# the settings of an ERP reached over the network by URL, database and login (Tryton, Odoo)
SERVER_SETTINGS: tuple[Setting, ...] = (
    Setting("url", _("Server address"), required=True, kind="url",
            help=_("The address of the ERP server with its port, as the browser opens it.")),
    Setting("database", _("Database"), required=True),
    Setting("login", _("Login name"), required=True),
)
# settings every adapter reads (the base class and the sync engine), whatever the adapter
COMMON_SETTINGS: tuple[Setting, ...] = (
    Setting("default_owner", _("Owner of customers the ERP brings in (user name)"),
            help=_("Empty: they have no owner; only managers who see all customers see them.")),
    Setting("retry_attempts", _("Attempts per request"), kind="number", help=_("Default: 4.")),
    Setting("retry_base", _("First wait before a retry (s)"), kind="number", help=_("Default: 0.5.")),
    Setting("retry_budget", _("Longest time spent retrying a request (s)"), kind="number", help=_("Default: 30.")),
)


class ErpAdapter:
    """Base of every ERP adapter. Subclasses set ``name`` and implement ``read`` and ``write``.

    ``config`` holds the connection's settings (url, database, login, ...) and ``secret`` its
    password or API key, which must never be logged. Every network call has ``timeout`` seconds.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    streams: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()  # kinds ``write`` accepts: customers, orders, credit_limits
    detects_deletions: ClassVar[tuple[str, ...]] = ()
    # True when ``payments`` yields every payment of the invoices read (then invoices derive none from
    # their amount due); False when payments may be missing (a CSV drop without payments.csv).
    reads_payments: ClassVar[bool] = False
    # the settings a connection must give (checked when it is saved, with the other fields)
    required_settings: ClassVar[tuple[str, ...]] = ()
    # the adapter's own settings (besides COMMON_SETTINGS), declared for the admin form and the checks;
    # an adapter that declares none gets a text setting per ``required_settings`` (``declared_settings``)
    settings: ClassVar[tuple[Setting, ...]] = ()

    def __init__(self, config: dict[str, Any], secret: str | None = None, *, timeout: float = 10.0,
                 page_size: int = 200, retry: RetryPolicy | None = None) -> None:
        self.config = dict(config or {})
        self._secret = secret
        self.timeout = float(self.config.get("timeout") or timeout)
        self.page_size = int(self.config.get("page_size") or page_size)
        self.retry = retry or RetryPolicy(attempts=int(self.config.get("retry_attempts") or 4),
                                          base=float(self.config.get("retry_base") or 0.5),
                                          budget=float(self.config.get("retry_budget") or 30))

    def __repr__(self) -> str:  # never show the secret
        return f"<{type(self).__name__} {self.config.get('url') or self.config.get('directory') or ''}>"

    def test_connection(self) -> str:
        """Check that the ERP answers and the credentials work; return a short description."""
        raise NotImplementedError

    def read(self, stream: str, since: Any, cursor: Any = None) -> Iterator[Page]:
        """Yield pages of ``stream`` changed at or after ``since`` (None: everything).

        ``cursor`` is a page's ``cursor`` from an interrupted run: continue after it.
        """
        raise NotImplementedError

    def count(self, stream: str, since: Any) -> int | None:
        """How many records ``read`` would yield (for progress bars), or None when unknown."""
        return None

    def existing_ids(self, stream: str) -> set[str] | None:
        """Every external id the ERP still has for ``stream`` (for deletion detection), or None."""
        return None

    def all_exist(self, stream: str, external_ids: list[str]) -> bool | None:
        """Whether the ERP still has every one of ``external_ids`` (archived ones count), or None when
        this adapter cannot tell cheaply. Deletion detection asks this first (a count is fast where
        listing every id is not) and reads ``existing_ids`` only when something is missing."""
        return None

    def fetch(self, kind: str, external_id: str) -> Record | None:
        """The ERP's current record of ``kind`` (``customers``) with this id, or None when it has none or
        this adapter cannot read one record. The push reads it to see whether the ERP changed a field the
        CRM is about to overwrite (then the ERP's value is kept in a conflict issue)."""
        return None

    def find(self, kind: str, record: Record) -> str | None:
        """The external id of a record the CRM pushed before (by the CRM reference), or None."""
        return None

    def write(self, kind: str, record: Record, external_id: str | None = None) -> str:
        """Create (``external_id`` None) or update a record in the ERP; return its external id."""
        raise FatalAdapterError(f"{self.name} does not accept writes of {kind}")

    def close(self) -> None:
        """Release connections."""


def declared_settings(cls: Any) -> tuple[Setting, ...]:
    """The adapter class's own settings: its declaration, else one required text setting per
    ``required_settings`` (an adapter written before settings were declared), labelled by its key."""
    own = tuple(getattr(cls, "settings", ()) or ())
    known = {s.name for s in own}
    extra = tuple(Setting(k, k, required=True) for k in getattr(cls, "required_settings", ()) if k not in known)
    return own + extra


def all_settings(cls: Any) -> tuple[Setting, ...]:
    """The adapter's own settings, then the common ones it does not declare itself."""
    own = declared_settings(cls)
    names = {s.name for s in own}
    return own + tuple(s for s in COMMON_SETTINGS if s.name not in names)
