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

from crmcore.i18n import _

from .base import (SERVER_SETTINGS, ConnectionRefused, CustomerRecord, ErpAdapter, ErpUnreachable, FatalAdapterError, Page,
                   RetriableAdapterError, SalesOrderRecord, SkippableRecordError)
from .streams import IdPaginator, stream_map
from .tryton_streams import (CRM_PREFIX, PARTY_FIELDS, PRICE_LINE_FIELDS, SALE_STATES,  # noqa: F401 - re-exported
                             STREAMS, TrytonStream, _fixed_prices, _position)

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
        import requests  # with the first connection, not in every web worker that lists the adapters

        self.http = requests.Session()
        self.context: dict[str, Any] | None = None
        self._ids = itertools.count(1)

    def _post(self, method: str, params: list[Any]) -> Any:
        import requests

        try:
            resp = self.http.post(self.endpoint, json={"id": next(self._ids), "method": method, "params": encode(params)},
                                  timeout=(min(self.timeout, 5.0), self.timeout))
        except requests.ConnectionError as exc:  # refused, no route, connect timeout: the server is down
            raise ErpUnreachable(f"Tryton at {self.endpoint} did not answer: {type(exc).__name__}") from exc
        except requests.Timeout as exc:
            raise RetriableAdapterError(f"Tryton at {self.endpoint} did not answer: {type(exc).__name__}") from exc
        except requests.RequestException as exc:  # the answer broke off (the server went away mid-reply)
            raise RetriableAdapterError(f"Tryton at {self.endpoint} broke off its answer: {type(exc).__name__}") from exc
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


class TrytonAdapter(ErpAdapter):
    """Tryton 7/8 via JSON-RPC. Settings: ``url``, ``database``, ``login``; the secret is the password."""

    name = "tryton"
    label = "Tryton"
    streams = ("customers", "products", "prices", "orders", "invoices", "payments", "credit_limits")
    writes = ("customers", "orders", "credit_limits")
    detects_deletions = ("customers", "products", "prices")
    reads_payments = True  # the invoices' payment lines: invoices derive no payments from amount_to_pay
    settings = SERVER_SETTINGS
    required_settings = tuple(s.name for s in settings if s.required)

    def __init__(self, config: dict[str, Any], secret: str | None = None, **kwargs: Any) -> None:
        super().__init__(config, secret, **kwargs)
        for key in ("url", "database", "login"):
            if not self.config.get(key):
                raise FatalAdapterError(f"the Tryton connection needs '{key}' in its settings")
        self.client = TrytonClient(self.config["url"], self.config["database"], self.config["login"], secret,
                                   timeout=self.timeout, retry=self.retry)
        self._company: dict[str, Any] | None = None
        self._models: dict[str, bool] = {}  # optional modules' models: does the server have them?
        self._streams = stream_map(self, STREAMS)

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

    def test_connection(self) -> str:
        company = self.company
        return (f"Tryton database {self.config['database']}: company party {company['party']}, "
                f"currency {company['currency.']['code']}")

    def stream(self, name: str) -> TrytonStream:
        """The class reading stream ``name``, bound to this adapter."""
        try:
            return self._streams[name]
        except KeyError:
            raise FatalAdapterError(f"Tryton has no stream {name}") from None

    def has_source(self, stream: str) -> bool:
        """Whether the server has what ``stream`` reads: prices need the module ``product_price_list``,
        credit limits ``account_credit_limit`` (asked once per adapter; other streams always)."""
        return self.stream(stream).available()

    def count(self, stream: str, since: Any) -> int | None:
        if stream in ("prices", "payments") or not self.has_source(stream):
            return None  # records per price list / invoice vary: unknown until read
        source = self.stream(stream)
        return self.client.call(source.model, "search_count", source.changed(since) + source.base_domain(),
                                context=source.context)

    # --- reading ------------------------------------------------------------------------------

    def _rows(self, source: TrytonStream, domain: list[Any], fields: list[str],
              cursor: Any = None) -> Iterator[list[dict[str, Any]]]:
        """The rows of ``domain`` after ``cursor``, a page at a time, in id order (the shared paginator)."""
        return IdPaginator(self.page_size, cursor).pages(lambda after: self.client.search_read(
            source.model, domain + after, fields, limit=self.page_size, order=[["id", "ASC"]], context=source.context))

    def read(self, stream: str, since: Any, cursor: Any = None) -> Iterator[Page]:
        source = self.stream(stream)
        base_domain = source.base_domain()
        if not source.available():
            return
        for rows in self._rows(source, source.changed(since) + base_domain, source.select(), cursor):
            yield Page(records=source.records(rows), cursor=rows[-1]["id"], max_key=source.max_key(rows))

    def existing_ids(self, stream: str) -> set[str] | None:
        if stream not in self.detects_deletions:
            return None
        source = self.stream(stream)
        if stream == "prices":
            if not source.available():
                return set()
            return {f"{r['id']}:{p}" for rows in self._rows(source, [], list(PRICE_LINE_FIELDS))
                    for r in rows for p in _fixed_prices(r.get("lines.") or [])}
        return {str(i) for i in self.client.call(source.model, "search",
                                                 source.base_domain() + [("active", "in", [True, False])], 0, None,
                                                 None)}

    def all_exist(self, stream: str, external_ids: list[str]) -> bool | None:
        """A ``search_count`` over the ids (in chunks): ~0.03 s for 5,000 parties, where the ``search``
        behind ``existing_ids`` takes ~0.8 s."""
        if stream not in ("customers", "products") or not all(i.isdigit() for i in external_ids):
            return None  # price list items have composite ids
        source = self.stream(stream)
        ids, domain = [int(i) for i in external_ids], source.base_domain()
        found = sum(self.client.call(source.model, "search_count", domain + [("id", "in", ids[start:start + 2000]),
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
        source = self.stream("customers")
        rows = self.client.search_read(source.model, [("id", "=", int(external_id))], source.select(),
                                       context=source.context)
        return source.records(rows)[0] if rows else None

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
