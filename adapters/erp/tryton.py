"""Tryton over its JSON-RPC (``POST /<db>/rpc/``) with ``requests``: login session, ``search_read``
paging, ``create`` / ``write``, typed values (Decimal, date, datetime) and the sale workflow.

Mapping: customers are ``party.party`` (phone/e-mail/website from unnamed contact mechanisms,
named mechanisms become contact persons, addresses), products ``product.product``, prices the
fixed-price lines of ``product.price_list`` (module ``product_price_list``), orders ``sale.sale``,
invoices ``account.invoice`` of type ``out`` with ``amount_to_pay``, payments the receivable move
lines that pay an invoice (its ``payment_lines`` and ``reconciliation_lines``), credit limits the
party's ``credit_limit_amount`` (module ``account_credit_limit``). Streams of modules the server
lacks yield nothing.
"""
from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
from decimal import Decimal
from typing import Any, Iterator

import requests

from crmcore.i18n import _

from .base import (ConnectionRefused, ContactPerson, CreditLimitRecord, CustomerRecord, ErpAdapter, ErpUnreachable,
                   FatalAdapterError, InvoiceRecord, OrderItem, Page, PaymentRecord, PostalAddress, PriceRecord, ProductRecord, RetriableAdapterError,
                   SalesOrderRecord, SkippableRecordError)

CRM_PREFIX = "CRM:"  # party identifier code carrying the CRM customer code
SALE_STATES = {"draft": "draft", "quotation": "quotation", "confirmed": "confirmed", "processing": "confirmed",
               "done": "done", "cancelled": "cancelled"}
RETRIABLE_ERRORS = ("ConcurrencyException", "TooManyRequests", "DatabaseOperationalError", "RateLimitException")
FATAL_ERRORS = ("AccessError", "LoginException", "NotLogged", "RPCError")


def encode(value: Any) -> Any:
    """Python values as Tryton's JSON-RPC typed values."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value
        return {"__class__": "datetime", "year": value.year, "month": value.month, "day": value.day,
                "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def _typed(obj: dict[str, Any]) -> Any:
    """One JSON object as Python: Tryton's typed values converted (datetimes are the server's UTC, made
    aware), any other object as it is. Used as ``json.loads``'s ``object_hook``, so it is called for
    objects only, innermost first, while the response is parsed."""
    kind = obj.get("__class__")
    if kind is None:
        return obj
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "datetime":
        return dt.datetime(obj["year"], obj["month"], obj["day"], obj.get("hour", 0), obj.get("minute", 0),
                           obj.get("second", 0), obj.get("microsecond", 0), tzinfo=dt.timezone.utc)
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    return obj


def decode(text: str | bytes) -> Any:
    """A JSON-RPC response body as Python, Tryton's typed values converted."""
    return json.loads(text, object_hook=_typed)


class TrytonClient:
    """A JSON-RPC session with one Tryton database: logs in lazily and again when the session expires."""

    def __init__(self, url: str, database: str, login: str, password: str | None, *, timeout: float,
                 retry: Any) -> None:
        self.endpoint = f"{url.rstrip('/')}/{database}/rpc/"
        self.url, self.database = url.rstrip("/"), database
        self.login, self._password = login, password
        self.timeout, self.retry = timeout, retry
        self.http = requests.Session()
        self.context: dict[str, Any] | None = None
        self._ids = itertools.count(1)

    def _post(self, method: str, params: list[Any]) -> Any:
        try:
            resp = self.http.post(self.endpoint, json={"id": next(self._ids), "method": method, "params": encode(params)},
                                  timeout=(min(self.timeout, 5.0), self.timeout))
        except requests.ConnectionError as exc:  # refused, no route, connect timeout: the server is down
            raise ErpUnreachable(f"Tryton at {self.endpoint} did not answer: {type(exc).__name__}") from exc
        except requests.Timeout as exc:
            raise RetriableAdapterError(f"Tryton at {self.endpoint} did not answer: {type(exc).__name__}") from exc
        if resp.status_code == 404:  # the path is /<database>/rpc/: Tryton serves no database of that name
            raise ConnectionRefused(_("Tryton at %(url)s has no database named '%(database)s': check the "
                                      "connection's database setting.", url=self.url, database=self.database))
        if resp.status_code in (401, 403) and method == "common.db.login":
            raise ConnectionRefused(_("Tryton refused the login of user '%(login)s' to database '%(database)s': "
                                      "wrong user or password.", login=self.login, database=self.database))
        if resp.status_code in (401, 403):
            self.context = None
            raise _Relogin(f"HTTP {resp.status_code}")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise RetriableAdapterError(f"Tryton answered HTTP {resp.status_code} to {method}")
        if resp.status_code >= 400:
            raise FatalAdapterError(f"Tryton refused {method}: HTTP {resp.status_code}")
        try:
            body = decode(resp.content)
        except ValueError as exc:
            raise RetriableAdapterError(f"Tryton sent no JSON for {method}") from exc
        if not isinstance(body, dict):
            raise RetriableAdapterError(f"Tryton sent no JSON-RPC answer for {method}")
        error = body.get("error")
        if error:
            raise _error(method, error)
        return body.get("result")

    def _session_login(self) -> None:
        refused = ConnectionRefused(_("Tryton refused the login of user '%(login)s' to database '%(database)s': "
                                      "wrong user or password.", login=self.login, database=self.database))
        try:
            result = self._post("common.db.login", [self.login, {"password": self._password or ""}, "en"])
            if not result:
                raise refused
            uid, key = result[0], result[1]
            token = base64.b64encode(f"{self.login}:{uid}:{key}".encode()).decode()
            self.http.headers["Authorization"] = f"Session {token}"
            self.context = self._post("model.res.user.get_preferences", [True, {}])
        except _Relogin as exc:  # refused at login itself: never a session to renew
            self.context = None
            raise refused from exc

    def call(self, model: str, method: str, *args: Any, context: dict[str, Any] | None = None) -> Any:
        """Call ``model.<model>.<method>(*args, context)`` with retries; log in first when needed.
        ``context`` adds to the user's (e.g. ``{"active_test": False}``: deactivated records too)."""

        def once() -> Any:
            for _attempt in range(2):
                if self.context is None:
                    self._session_login()
                try:
                    return self._post(f"model.{model}.{method}", [*args, {**self.context, **(context or {})}])
                except _Relogin:
                    continue
            raise FatalAdapterError("Tryton keeps refusing the session: check the user's rights")

        return self.retry.run(once, f"{model}.{method}")

    def search_read(self, model: str, domain: list[Any], fields: list[str], *, offset: int = 0,
                    limit: int | None = None, order: list[Any] | None = None,
                    context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.call(model, "search_read", domain, offset, limit, order, fields, context=context)

    def close(self) -> None:
        self.http.close()


class _Relogin(Exception):
    """The session expired: log in again."""


def _error(method: str, error: Any) -> Exception:
    name = error[0] if isinstance(error, list) and error else str(error)
    detail = error[1] if isinstance(error, list) and len(error) > 1 else ""
    message = detail[0] if isinstance(detail, list) and detail else str(detail or name)
    if name in ("UserError", "UserWarning", "ValidationError", "DomainValidationError", "RequiredValidationError",
                "SizeValidationError", "SelectionValidationError", "ForeignKeyError"):
        return SkippableRecordError(f"Tryton {name} in {method}: {message}")
    if name in RETRIABLE_ERRORS:
        return RetriableAdapterError(f"Tryton {name} in {method}: {message}")
    if name in FATAL_ERRORS or str(name).startswith("403"):
        return _Relogin(name) if name in ("NotLogged", "LoginException") else FatalAdapterError(
            f"Tryton {name} in {method}: {message}")
    return FatalAdapterError(f"Tryton {name} in {method}: {message}")


PARTY_FIELDS = ["name", "code", "active", "create_date", "write_date", "identifiers.code",
                *[f"contact_mechanisms.{f}" for f in ("type", "value", "name", "active", "sequence")],
                *[f"addresses.{f}" for f in ("street", "city", "postal_code", "country.code", "subdivision.name",
                                             "active")]]
# Streams read with deactivated records too (context ``active_test`` off: a domain leaf ``('active', 'in',
# [True, False])`` is not enough once the domain has an OR over related rows): the engine reports
# deactivated parties like deletions, and the catalogue archives deactivated products.
_ARCHIVED: dict[str, dict[str, Any]] = {"customers": {"active_test": False}, "products": {"active_test": False}}


def _position(mechanism: dict[str, Any]) -> tuple[int, int]:
    """Tryton's order of a party's contact mechanisms: sequence (empty last), then id."""
    seq = mechanism.get("sequence")
    return (seq if seq is not None else 2**31, mechanism["id"])


def _fixed_prices(lines: list[dict[str, Any]]) -> dict[int, Decimal]:
    """Per product, the price of a price list's first line (by sequence) for that product alone,
    when its formula is a number; the number is parsed as a Decimal, never evaluated. A line for
    every product (no product, category or quantity) hides the lines after it. Order as Tryton's
    ``sequence_ordered``: sequence ascending with empty ones first, then id."""
    prices: dict[int, Decimal] = {}
    seen: set[int] = set()
    for ln in sorted(lines, key=lambda x: (x.get("sequence") is not None, x.get("sequence") or 0, x["id"])):
        product = ln.get("product")
        if not product and not ln.get("category") and not ln.get("quantity"):
            break
        if not product or ln.get("category") or (ln.get("quantity") or 0) > 0 or product in seen:
            continue
        seen.add(product)  # Tryton uses the first matching line, fixed price or not
        text = (ln.get("formula") or "").strip()
        if text.startswith("Decimal(") and text.endswith(")"):
            text = text[len("Decimal("):-1].strip().strip("'\"")
        try:
            price = Decimal(text)
        except ArithmeticError:
            continue
        if price.is_finite() and price >= 0:
            prices[product] = price
    return prices


def _stamp(row: dict[str, Any]) -> dt.datetime | None:
    stamps = [s for s in (row.get("write_date"), row.get("create_date")) if s is not None]
    return max(stamps) if stamps else None


class TrytonAdapter(ErpAdapter):
    """Tryton 7/8 via JSON-RPC. Settings: ``url``, ``database``, ``login``; the secret is the password."""

    name = "tryton"
    label = "Tryton"
    streams = ("customers", "products", "prices", "orders", "invoices", "payments", "credit_limits")
    writes = ("customers", "orders", "credit_limits")
    detects_deletions = ("customers", "products", "prices")
    reads_payments = True  # the invoices' payment lines: invoices derive no payments from amount_to_pay

    def __init__(self, config: dict[str, Any], secret: str | None = None, **kwargs: Any) -> None:
        super().__init__(config, secret, **kwargs)
        for key in ("url", "database", "login"):
            if not self.config.get(key):
                raise FatalAdapterError(f"the Tryton connection needs '{key}' in its settings")
        self.client = TrytonClient(self.config["url"], self.config["database"], self.config["login"], secret,
                                   timeout=self.timeout, retry=self.retry)
        self._company: dict[str, Any] | None = None
        self._models: dict[str, bool] = {}  # optional modules' models: does the server have them?

    # --- helpers ------------------------------------------------------------------------------

    @property
    def company(self) -> dict[str, Any]:
        if self._company is None:
            if self.client.context is None:
                self.client.call("res.user", "get_preferences", True)  # logs in
            company_id = (self.client.context or {}).get("company")
            if not company_id:
                raise FatalAdapterError("the Tryton user has no company")
            self._company = self.client.call("company.company", "read", [company_id], ["party", "currency.code"])[0]
        return self._company

    def _changed(self, since: dt.datetime | None, cursor: Any, extra: tuple[str, ...] = ()) -> list[Any]:
        domain: list[Any] = []
        if since is not None:  # an ``extra`` path is a relation (its write_date) or a dotted date field
            domain.append(["OR", ("create_date", ">=", since), ("write_date", ">=", since),
                           *[(path if path.endswith("_date") else f"{path}.write_date", ">=", since)
                             for path in extra]])
        if cursor is not None:
            domain.append(("id", ">", int(cursor)))
        return domain

    def _pages(self, model: str, domain: list[Any], fields: list[str],
               context: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        last = None
        while True:
            where = domain + ([("id", ">", last)] if last is not None else [])
            rows = self.client.search_read(model, where, fields, limit=self.page_size, order=[["id", "ASC"]],
                                           context=context)
            if not rows:
                return
            yield rows
            last = rows[-1]["id"]
            if len(rows) < self.page_size:
                return

    def test_connection(self) -> str:
        company = self.company
        return (f"Tryton database {self.config['database']}: company party {company['party']}, "
                f"currency {company['currency.']['code']}")

    def count(self, stream: str, since: Any) -> int | None:
        if stream in ("prices", "payments") or not self.has_source(stream):
            return None  # records per price list / invoice vary: unknown until read
        model, extra, domain = self._source(stream)
        return self.client.call(model, "search_count", self._changed(since, None, extra) + domain,
                                context=_ARCHIVED.get(stream))

    def _source(self, stream: str) -> tuple[str, tuple[str, ...], list[Any]]:
        if stream == "customers":
            return "party.party", ("contact_mechanisms", "addresses"), [("id", "!=", self.company["party"])]
        if stream == "credit_limits":  # a MultiValue: its rows change without the party's write_date
            return "party.party", ("credit_limit_amounts", "credit_limit_amounts.create_date"), [
                ("id", "!=", self.company["party"])]
        if stream == "prices":
            return "product.price_list", ("lines", "lines.create_date"), []
        if stream == "payments":  # paying or reconciling an invoice writes it (payment_lines, state)
            return "account.invoice", (), [("type", "=", "out"), ("state", "in", ["posted", "paid"])]
        if stream == "products":
            return "product.product", ("template",), []
        if stream == "orders":
            return "sale.sale", ("lines",), [("state", "!=", "draft")]
        if stream == "invoices":
            return "account.invoice", (), [("type", "=", "out"), ("state", "in", ["posted", "paid", "cancelled"])]
        raise FatalAdapterError(f"Tryton has no stream {stream}")

    # --- reading ------------------------------------------------------------------------------

    def read(self, stream: str, since: Any, cursor: Any = None) -> Iterator[Page]:
        model, extra, base_domain = self._source(stream)
        if not self.has_source(stream):
            return
        fields = {"customers": PARTY_FIELDS,
                  "credit_limits": ["create_date", "write_date", "credit_limit_amount"],
                  "prices": ["name", "create_date", "write_date", "company.currency.code",
                             *[f"lines.{f}" for f in ("product", "category", "quantity", "formula", "sequence")]],
                  "payments": ["total_amount", "currency.code", "payment_lines", "reconciliation_lines",
                               "create_date", "write_date"],
                  "products": ["code", "name", "active", "create_date", "write_date", "list_price_used",
                               "default_uom.symbol", "template.write_date"],
                  "orders": ["number", "reference", "party", "sale_date", "state", "total_amount", "currency.code",
                             "create_date", "write_date"],
                  "invoices": ["number", "party", "invoice_date", "state", "total_amount", "amount_to_pay",
                               "currency.code", "lines_to_pay", "sales", "create_date", "write_date"]}[stream]
        if stream == "invoices" and not self._invoices_have_sales():
            fields = [f for f in fields if f != "sales"]
        convert = getattr(self, f"_{stream}")
        for rows in self._pages(model, self._changed(since, cursor, extra) + base_domain, fields,
                                _ARCHIVED.get(stream)):
            stamps = [_stamp(r) for r in rows]
            for r in rows:  # a template's change is the product's change too
                t = (r.get("template.") or {}).get("write_date")
                if t is not None:
                    stamps.append(t)
            yield Page(records=convert(rows), cursor=rows[-1]["id"], max_key=max((s for s in stamps if s), default=None))

    def _invoices_have_sales(self) -> bool:
        """Whether invoices name their sales (field ``sales`` of the module ``sale``; asked once)."""
        if "invoice.sales" not in self._models:
            self._models["invoice.sales"] = "sales" in self.client.call("account.invoice", "fields_get", ["sales"])
        return self._models["invoice.sales"]

    def has_source(self, stream: str) -> bool:
        """Whether the server has what ``stream`` reads: prices need the module ``product_price_list``,
        credit limits ``account_credit_limit`` (asked once per adapter; other streams always)."""
        if stream not in ("prices", "credit_limits"):
            return True
        if stream not in self._models:
            if stream == "credit_limits":
                found = "credit_limit_amount" in self.client.call("party.party", "fields_get", ["credit_limit_amount"])
            else:
                found = bool(self.client.search_read("ir.module", [("name", "=", "product_price_list"),
                                                                   ("state", "=", "activated")], ["id"], limit=1))
            self._models[stream] = found
        return self._models[stream]

    def _customers(self, rows: list[dict[str, Any]]) -> list[CustomerRecord]:
        """Parties with their contact mechanisms and addresses, read nested in the page's one call."""
        out = []
        for r in rows:
            crm_ref = next((i["code"][len(CRM_PREFIX):] for i in r.get("identifiers.") or []
                            if (i.get("code") or "").startswith(CRM_PREFIX)), None)
            rec = CustomerRecord(external_id=str(r["id"]), name=r["name"] or "", code=r.get("code"),
                                 active=bool(r.get("active", True)), crm_ref=crm_ref, updated_at=_stamp(r))
            people: dict[str, ContactPerson] = {}
            for m in sorted(r.get("contact_mechanisms.") or [], key=_position):
                if not m.get("active", True):
                    continue
                kind, value = m["type"], m["value"]
                if m.get("name"):
                    person = people.setdefault(m["name"], ContactPerson(external_id=f"cm{m['id']}", name=m["name"]))
                    attr = {"phone": "phone", "mobile": "mobile", "email": "email"}.get(kind)
                    if attr and getattr(person, attr) is None:
                        setattr(person, attr, value)
                elif kind in ("phone", "mobile") and rec.phone is None:
                    rec.phone = value
                elif kind == "email" and rec.email is None:
                    rec.email = value
                elif kind == "website" and rec.website is None:
                    rec.website = value
            rec.contacts = list(people.values())
            rec.addresses = [PostalAddress(external_id=str(a["id"]), line1=(a.get("street") or "").split("\n")[0],
                                           line2="\n".join((a.get("street") or "").split("\n")[1:]) or None,
                                           city=a.get("city"), postcode=a.get("postal_code"),
                                           region=(a.get("subdivision.") or {}).get("name"),
                                           country=(a.get("country.") or {}).get("code"))
                             for a in sorted(r.get("addresses.") or [], key=lambda a: a["id"])
                             if a.get("street") and a.get("active", True)]
            out.append(rec)
        return out

    def _credit_limits(self, rows: list[dict[str, Any]]) -> list[CreditLimitRecord]:
        currency = self.company["currency."]["code"]
        return [CreditLimitRecord(external_id=str(r["id"]), customer_ref=str(r["id"]),
                                  credit_limit=r.get("credit_limit_amount"), currency=currency, updated_at=_stamp(r))
                for r in rows]

    def _prices(self, rows: list[dict[str, Any]]) -> list[PriceRecord]:
        """Each price list's fixed price per product: Tryton uses a list's first matching line (by
        sequence), so per product the first line for that product (no category, no minimum quantity)
        counts, and only when its formula is a plain number; formulas (``list_price * 0.9``) and
        category or quantity lines are computed by Tryton at sale time and are not read."""
        out = []
        for r in rows:
            currency = ((r.get("company.") or {}).get("currency.") or {}).get("code")
            for product, price in _fixed_prices(r.get("lines.") or []).items():
                out.append(PriceRecord(external_id=f"{r['id']}:{product}", price_list=r["name"],
                                       product_ref=str(product), price=price, currency=currency,
                                       updated_at=_stamp(r)))
        return out

    def _payments(self, rows: list[dict[str, Any]]) -> list[PaymentRecord]:
        """The receivable lines that pay each invoice: ``payment_lines`` (added while it is open) and
        ``reconciliation_lines`` (what settled it: payments, credit notes, write-offs), oldest first.
        A line that settles several invoices at once counts for each up to what it still owed."""
        ids = sorted({i for r in rows for i in (r.get("payment_lines") or []) + (r.get("reconciliation_lines") or [])})
        lines = {ln["id"]: ln for ln in self.client.search_read(
            "account.move.line", [("id", "in", ids)],
            ["date", "debit", "credit", "amount_second_currency", "second_currency.code"])} if ids else {}
        out = []
        for r in rows:
            currency = (r.get("currency.") or {}).get("code")
            owed = r.get("total_amount") or Decimal("0")
            paying = dict.fromkeys((r.get("reconciliation_lines") or []) + (r.get("payment_lines") or []))
            used = [lines[i] for i in paying if i in lines]
            for ln in sorted(used, key=lambda x: (x.get("date") or dt.date.min, x["id"])):
                if (ln.get("second_currency.") or {}).get("code") == currency and ln.get("amount_second_currency"):
                    amount = -ln["amount_second_currency"]
                else:
                    amount = (ln.get("credit") or Decimal("0")) - (ln.get("debit") or Decimal("0"))
                amount = min(amount, owed)
                if amount <= 0:
                    continue  # a refund (a debit), or the invoice is already settled by earlier lines
                owed -= amount
                out.append(PaymentRecord(external_id=f"{ln['id']}:{r['id']}", invoice_ref=str(r["id"]),
                                         paid_on=ln.get("date"), amount=amount, currency=currency,
                                         updated_at=_stamp(r)))
        return out

    def _products(self, rows: list[dict[str, Any]]) -> list[ProductRecord]:
        currency = self.company["currency."]["code"]
        return [ProductRecord(external_id=str(r["id"]), code=r.get("code") or f"TRYTON-{r['id']}", name=r["name"],
                              unit=(r.get("default_uom.") or {}).get("symbol"), list_price=r.get("list_price_used"),
                              currency=currency, active=bool(r.get("active", True)), updated_at=_stamp(r))
                for r in rows]

    def _orders(self, rows: list[dict[str, Any]]) -> list[SalesOrderRecord]:
        lines = self.client.search_read("sale.line", [("sale", "in", [r["id"] for r in rows]), ("type", "=", "line")],
                                        ["sale", "product", "description", "quantity", "unit_price", "amount"],
                                        order=[["id", "ASC"]])
        out = []
        for r in rows:
            items = [OrderItem(external_id=str(ln["id"]), product_ref=str(ln["product"]) if ln.get("product") else None,
                               description=(ln.get("description") or "").strip()[:255],
                               quantity=Decimal(str(ln["quantity"])), unit_price=ln["unit_price"],
                               line_total=ln.get("amount")) for ln in lines if ln["sale"] == r["id"]]
            out.append(SalesOrderRecord(external_id=str(r["id"]), number=r.get("number") or f"TRYTON-SO-{r['id']}",
                                        customer_ref=str(r["party"]), order_date=r.get("sale_date"),
                                        currency=(r.get("currency.") or {}).get("code"),
                                        state=SALE_STATES.get(r["state"], "confirmed"), total=r.get("total_amount"),
                                        crm_ref=r.get("reference"), lines=items, updated_at=_stamp(r)))
        return out

    def _invoices(self, rows: list[dict[str, Any]]) -> list[InvoiceRecord]:
        line_ids = [i for r in rows for i in r.get("lines_to_pay") or []]
        maturity: dict[int, dt.date] = {}
        if line_ids:
            for ln in self.client.search_read("account.move.line", [("id", "in", line_ids)], ["maturity_date"]):
                if ln.get("maturity_date"):
                    maturity[ln["id"]] = ln["maturity_date"]
        out = []
        for r in rows:
            dues = [maturity[i] for i in r.get("lines_to_pay") or [] if i in maturity]
            to_pay = r.get("amount_to_pay") or Decimal("0")
            state = {"posted": "open", "paid": "paid", "cancelled": "cancelled"}.get(r["state"], "draft")
            if state == "open" and to_pay <= 0:
                state = "paid"
            sales = sorted(r.get("sales") or [])  # module sale: the sales of its lines (the first, if several)
            out.append(InvoiceRecord(external_id=str(r["id"]), number=r.get("number") or f"TRYTON-INV-{r['id']}",
                                     customer_ref=str(r["party"]), order_ref=str(sales[0]) if sales else None,
                                     invoice_date=r.get("invoice_date"),
                                     due_date=min(dues) if dues else r.get("invoice_date"),
                                     currency=(r.get("currency.") or {}).get("code"),
                                     amount_total=r.get("total_amount") or Decimal("0"),
                                     amount_due=to_pay if state != "cancelled" else Decimal("0"), state=state,
                                     updated_at=_stamp(r)))
        return out

    def existing_ids(self, stream: str) -> set[str] | None:
        if stream not in self.detects_deletions:
            return None
        if stream == "prices":
            if not self.has_source("prices"):
                return set()
            fields = [f"lines.{f}" for f in ("product", "category", "quantity", "formula", "sequence")]
            return {f"{r['id']}:{p}" for rows in self._pages("product.price_list", [], fields)
                    for r in rows for p in _fixed_prices(r.get("lines.") or [])}
        model, _extra, domain = self._source(stream)
        return {str(i) for i in self.client.call(model, "search", domain + [("active", "in", [True, False])], 0, None,
                                                 None)}

    def all_exist(self, stream: str, external_ids: list[str]) -> bool | None:
        """A ``search_count`` over the ids (in chunks): ~0.03 s for 5,000 parties, where the ``search``
        behind ``existing_ids`` takes ~0.8 s."""
        if stream not in ("customers", "products") or not all(i.isdigit() for i in external_ids):
            return None  # price list items have composite ids
        model, _extra, domain = self._source(stream)
        ids = [int(i) for i in external_ids]
        found = sum(self.client.call(model, "search_count", domain + [("id", "in", ids[start:start + 2000]),
                                                                      ("active", "in", [True, False])])
                    for start in range(0, len(ids), 2000))
        return found == len(ids)

    # --- writing ------------------------------------------------------------------------------

    def find(self, kind: str, record: Any) -> str | None:
        if kind == "customers" and record.crm_ref:
            rows = self.client.search_read("party.party", [("identifiers.code", "=", CRM_PREFIX + record.crm_ref)],
                                           ["id"], limit=1)
        elif kind == "orders" and record.crm_ref:
            rows = self.client.search_read("sale.sale", [("reference", "=", record.crm_ref)], ["id"], limit=1)
        else:
            return None
        return str(rows[0]["id"]) if rows else None

    def fetch(self, kind: str, external_id: str) -> CustomerRecord | None:
        if kind != "customers" or not str(external_id).isdigit():
            return None
        rows = self.client.search_read("party.party", [("id", "=", int(external_id))], PARTY_FIELDS,
                                       context=_ARCHIVED["customers"])
        return self._customers(rows)[0] if rows else None

    def write(self, kind: str, record: Any, external_id: str | None = None) -> str:
        if kind == "customers":
            return self._write_party(record, external_id)
        if kind == "credit_limits" and external_id is not None:  # the party's, in the user's company
            if not self.has_source("credit_limits"):
                raise SkippableRecordError("Tryton has no credit limits (module account_credit_limit)")
            self.client.call("party.party", "write", [int(external_id)], {"credit_limit_amount": record.credit_limit})
            return external_id
        if kind == "orders" and external_id is None:
            return self._create_sale(record)
        raise FatalAdapterError(f"Tryton does not accept {'changes' if external_id else 'new'} {kind} from the CRM")

    def _mechanisms(self, record: CustomerRecord, existing: list[dict[str, Any]]) -> list[Any]:
        """x2many actions: a changed phone / e-mail / website replaces the party's first unnamed one of
        its type (so the next pull reads the new value); new values and contact persons are created."""
        have = {(m["type"], m["value"], m.get("name") or None) for m in existing}
        actions: list[Any] = []
        created = []
        for kinds, value in ((("phone", "mobile"), record.phone), (("email",), record.email),
                             (("website",), record.website)):
            if not value or any((k, value, None) in have for k in kinds):
                continue
            current = next((m for m in existing if m["type"] in kinds and not m.get("name")), None)
            if current is not None:
                actions.append(["write", [current["id"]], {"value": value}])
            else:
                created.append({"type": kinds[0], "value": value})
        for person in record.contacts:
            for kind in ("phone", "mobile", "email"):
                value = getattr(person, kind)
                if value and (kind, value, person.name) not in have:
                    created.append({"type": kind, "value": value, "name": person.name})
        if created:
            actions.append(["create", created])
        return actions

    def _write_party(self, record: CustomerRecord, external_id: str | None) -> str:
        values: dict[str, Any] = {}
        if record.name:
            values["name"] = record.name
        new_addresses = [{"street": "\n".join(p for p in (a.line1, a.line2) if p), "city": a.city,
                          "postal_code": a.postcode} for a in record.addresses if not a.external_id]
        if external_id is None:
            values["identifiers"] = [["create", [{"type": None, "code": CRM_PREFIX + record.crm_ref}]]] \
                if record.crm_ref else []
            mechanisms = self._mechanisms(record, [])
            if mechanisms:
                values["contact_mechanisms"] = mechanisms
            values["addresses"] = [["create", new_addresses]] if new_addresses else []  # no empty default
            [party_id] = self.client.call("party.party", "create", [values])
            return str(party_id)
        party_id = int(external_id)
        existing = sorted(self.client.search_read("party.contact_mechanism", [("party", "=", party_id)],
                                                  ["type", "value", "name", "sequence"]), key=_position)
        mechanisms = self._mechanisms(record, existing)
        if mechanisms:
            values["contact_mechanisms"] = mechanisms
        known = self.client.search_read("party.address", [("party", "=", party_id)], ["street"])
        streets = {(a.get("street") or "").strip() for a in known}
        blank = [a["id"] for a in known if not (a.get("street") or "").strip()]
        actions: list[Any] = []
        for address in new_addresses:
            if address["street"].strip() in streets:
                continue  # pushed before
            if blank:
                actions.append(["write", [blank.pop(0)], address])
            else:
                actions.append(["create", [address]])
        if actions:
            values["addresses"] = actions
        if values:
            self.client.call("party.party", "write", [party_id], values)
        return str(party_id)

    def _create_sale(self, record: SalesOrderRecord) -> str:
        party = int(record.customer_ref)
        addresses = self.client.search_read("party.address", [("party", "=", party)], ["id"], limit=1)
        if not addresses:
            raise SkippableRecordError(f"party {party} has no address; Tryton quotes need an invoice address")
        uoms = self.client.search_read("product.product", [("id", "in", [int(ln.product_ref) for ln in record.lines
                                                                          if ln.product_ref])],
                                       ["default_uom", "sale_uom"]) if record.lines else []
        unit_of = {u["id"]: u.get("sale_uom") or u["default_uom"] for u in uoms}
        lines = []
        for ln in record.lines:
            if not ln.product_ref:
                raise SkippableRecordError(f"line '{ln.description}' has no product linked to Tryton")
            lines.append({"type": "line", "product": int(ln.product_ref), "quantity": float(ln.quantity),
                          "unit": unit_of.get(int(ln.product_ref)), "unit_price": ln.unit_price,
                          "description": ln.description or "-"})
        currency = self.client.search_read("currency.currency", [("code", "=", record.currency or
                                                                  self.company["currency."]["code"])], ["id"], limit=1)
        if not currency:
            raise SkippableRecordError(f"Tryton has no currency {record.currency}")
        values = {"party": party, "invoice_address": addresses[0]["id"], "shipment_address": addresses[0]["id"],
                  "currency": currency[0]["id"], "reference": record.crm_ref, "sale_date": record.order_date,
                  "description": f"CRM {record.crm_ref}", "lines": [["create", lines]]}
        [sale_id] = self.client.call("sale.sale", "create", [values])
        self.client.call("sale.sale", "quote", [sale_id])
        self.client.call("sale.sale", "confirm", [sale_id])
        return str(sale_id)

    def close(self) -> None:
        self.client.close()
