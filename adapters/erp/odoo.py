"""Odoo over its external JSON-RPC API (``POST /jsonrpc``, ``common.authenticate``, ``object.execute_kw``)
with ``requests``: ``search_read`` with domains, paging by id, ``write_date`` bookmarks.

Mapping: customers are top-level ``res.partner`` (child contacts become contact persons, the
partner's own address its address, ``ref`` carries the CRM code), products ``product.product``,
orders ``sale.order`` (pushed orders are confirmed with ``action_confirm``; ``client_order_ref``
is the CRM number), invoices ``account.move`` of type ``out_invoice`` with ``amount_residual``,
credit limits ``res.partner.credit_limit``. Odoo keeps ``write_date`` in UTC at second precision.
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any, ClassVar, Iterator

from crmcore.i18n import _

from .base import (SERVER_SETTINGS, ConnectionRefused, ContactPerson, CreditLimitRecord, CustomerRecord, ErpAdapter, ErpUnreachable,
                   FatalAdapterError, InvoiceRecord, OrderItem, Page, PostalAddress, ProductRecord, RetriableAdapterError, SalesOrderRecord,
                   SkippableRecordError)
from .streams import ErpStream, IdPaginator, Rows, stream_map

STAMP = "%Y-%m-%d %H:%M:%S"
SALE_STATES = {"draft": "quotation", "sent": "quotation", "sale": "confirmed", "done": "done", "cancel": "cancelled"}
SKIPPABLE = ("ValidationError", "UserError", "MissingError", "RedirectWarning")
RETRIABLE = ("SerializationFailure", "OperationalError", "LockNotAvailable", "TooManyRequests", "CacheMiss")


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.strptime(value[:19], STAMP).replace(tzinfo=dt.timezone.utc)


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def _text(value: Any) -> str | None:
    return value or None  # Odoo reads empty fields as false


def _m2o(value: Any) -> str | None:
    return str(value[0]) if value else None


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


class OdooStream(ErpStream):
    """An Odoo stream; ``archived``: read deactivated records too (context ``active_test`` off)."""

    archived: ClassVar[bool] = False

    def max_key(self, rows: Rows) -> dt.datetime | None:
        return max((s for s in (_time(r.get("write_date")) for r in rows) if s), default=None)


class Customers(OdooStream):
    """Top-level partners; their child contacts become contact persons."""

    name = "customers"
    model = "res.partner"
    domain = (("parent_id", "=", False),)
    fields = ("name", "ref", "is_company", "phone", "mobile", "email", "website", "street", "street2", "city", "zip",
              "country_code", "active", "write_date")
    archived = True

    def records(self, rows: Rows) -> list[CustomerRecord]:
        children = self.adapter.search_read("res.partner", [("parent_id", "in", [r["id"] for r in rows])],
                                    ["parent_id", "name", "function", "phone", "mobile", "email"])
        out = []
        for r in rows:
            contacts = [ContactPerson(external_id=str(c["id"]), name=c["name"] or "", title=_text(c.get("function")),
                                      phone=_text(c.get("phone")), mobile=_text(c.get("mobile")),
                                      email=_text(c.get("email")))
                        for c in children if _m2o(c.get("parent_id")) == str(r["id"])]
            addresses = [PostalAddress(external_id=f"{r['id']}-address", line1=r["street"], line2=_text(r.get("street2")),
                                       city=_text(r.get("city")), postcode=_text(r.get("zip")),
                                       country=_text(r.get("country_code")))] if r.get("street") else []
            out.append(CustomerRecord(external_id=str(r["id"]), name=r["name"] or "", code=None,
                                      kind="organization" if r.get("is_company") else "person",
                                      phone=_text(r.get("phone")) or _text(r.get("mobile")), email=_text(r.get("email")),
                                      website=_text(r.get("website")), active=bool(r.get("active", True)),
                                      crm_ref=_text(r.get("ref")), contacts=contacts, addresses=addresses,
                                      updated_at=_time(r.get("write_date"))))
        return out



class CreditLimits(OdooStream):
    name = "credit_limits"
    model = "res.partner"
    domain = (("parent_id", "=", False),)
    fields = ("credit_limit", "currency_id", "write_date")
    archived = True

    def records(self, rows: Rows) -> list[CreditLimitRecord]:
        return [CreditLimitRecord(external_id=str(r["id"]), customer_ref=str(r["id"]),
                                  credit_limit=_money(r.get("credit_limit")) if r.get("credit_limit") else None,
                                  currency=(r.get("currency_id") or [None, None])[1] or None,
                                  updated_at=_time(r.get("write_date"))) for r in rows]


class Products(OdooStream):
    name = "products"
    model = "product.product"
    domain = (("sale_ok", "=", True),)
    fields = ("default_code", "name", "list_price", "uom_id", "categ_id", "active", "write_date")
    archived = True

    def records(self, rows: Rows) -> list[ProductRecord]:
        return [ProductRecord(external_id=str(r["id"]), code=r.get("default_code") or f"ODOO-{r['id']}", name=r["name"],
                              unit=(r.get("uom_id") or [None, None])[1] or None, list_price=_money(r.get("list_price")),
                              category=(r.get("categ_id") or [None, None])[1] or None, active=bool(r.get("active")),
                              updated_at=_time(r.get("write_date"))) for r in rows]


class Orders(OdooStream):
    name = "orders"
    model = "sale.order"
    fields = ("name", "partner_id", "date_order", "state", "amount_total", "currency_id", "client_order_ref",
              "write_date")

    def records(self, rows: Rows) -> list[SalesOrderRecord]:
        lines = self.adapter.search_read("sale.order.line", [("order_id", "in", [r["id"] for r in rows])],
                                 ["order_id", "product_id", "name", "product_uom_qty", "price_unit", "price_subtotal"])
        out = []
        for r in rows:
            items = [OrderItem(external_id=str(ln["id"]), product_ref=_m2o(ln.get("product_id")),
                               description=(ln.get("name") or "")[:255], quantity=Decimal(str(ln["product_uom_qty"])),
                               unit_price=_money(ln.get("price_unit")), line_total=_money(ln.get("price_subtotal")))
                     for ln in lines if _m2o(ln.get("order_id")) == str(r["id"])]
            out.append(SalesOrderRecord(external_id=str(r["id"]), number=r["name"], customer_ref=_m2o(r["partner_id"]),
                                        order_date=_date(r.get("date_order")),
                                        currency=(r.get("currency_id") or [None, None])[1] or None,
                                        state=SALE_STATES.get(r["state"], "confirmed"), total=_money(r["amount_total"]),
                                        crm_ref=_text(r.get("client_order_ref")), lines=items,
                                        updated_at=_time(r.get("write_date"))))
        return out


class Invoices(OdooStream):
    name = "invoices"
    model = "account.move"
    domain = (("move_type", "=", "out_invoice"), ("state", "in", ["posted", "cancel"]))
    fields = ("name", "partner_id", "invoice_date", "invoice_date_due", "amount_total", "amount_residual",
              "currency_id", "state", "payment_state", "write_date")

    def records(self, rows: Rows) -> list[InvoiceRecord]:
        # the sale each invoice was made from: sale.order.invoice_ids (computed from the order lines' invoice
        # lines, searchable), one call per page; the first order when an invoice has several
        order_of: dict[int, int] = {}
        for o in self.adapter.search_read("sale.order", [("invoice_ids", "in", [r["id"] for r in rows])], ["invoice_ids"]):
            for move in o.get("invoice_ids") or ():
                order_of.setdefault(move, o["id"])
        out = []
        for r in rows:
            residual = _money(r.get("amount_residual"))
            state = "cancelled" if r["state"] == "cancel" else ("paid" if residual <= 0 else "open")
            out.append(InvoiceRecord(external_id=str(r["id"]), number=r["name"], customer_ref=_m2o(r["partner_id"]),
                                     order_ref=str(order_of[r["id"]]) if r["id"] in order_of else None,
                                     invoice_date=_date(r.get("invoice_date")), due_date=_date(r.get("invoice_date_due")),
                                     currency=(r.get("currency_id") or [None, None])[1] or None,
                                     amount_total=_money(r.get("amount_total")),
                                     amount_due=residual if state != "cancelled" else Decimal("0"), state=state,
                                     updated_at=_time(r.get("write_date"))))
        return out


STREAMS: tuple[type[OdooStream], ...] = (Customers, Products, Orders, Invoices, CreditLimits)


class OdooAdapter(ErpAdapter):
    """Odoo 16/17 via JSON-RPC. Settings: ``url``, ``database``, ``login``; the secret is the password or API key."""

    name = "odoo"
    label = "Odoo"
    streams = ("customers", "products", "orders", "invoices", "credit_limits")
    writes = ("customers", "orders", "credit_limits")
    detects_deletions = ("customers", "products")
    settings = SERVER_SETTINGS
    required_settings = tuple(s.name for s in settings if s.required)

    def __init__(self, config: dict[str, Any], secret: str | None = None, **kwargs: Any) -> None:
        super().__init__(config, secret, **kwargs)
        for key in ("url", "database", "login"):
            if not self.config.get(key):
                raise FatalAdapterError(f"the Odoo connection needs '{key}' in its settings")
        self.endpoint = self.config["url"].rstrip("/") + "/jsonrpc"
        import requests  # with the first connection, not in every web worker that lists the adapters

        self.http = requests.Session()
        self._uid: int | None = None
        self._ids = itertools.count(1)
        self._streams = stream_map(self, STREAMS)

    # --- RPC ----------------------------------------------------------------------------------

    def _rpc(self, service: str, method: str, *args: Any) -> Any:
        import requests

        payload = {"jsonrpc": "2.0", "method": "call", "id": next(self._ids),
                   "params": {"service": service, "method": method, "args": list(args)}}

        def once() -> Any:
            try:
                resp = self.http.post(self.endpoint, json=payload, timeout=(min(self.timeout, 5.0), self.timeout))
            except requests.ConnectionError as exc:  # refused, no route, connect timeout: the server is down
                raise ErpUnreachable(f"Odoo at {self.endpoint} did not answer: {type(exc).__name__}") from exc
            except requests.Timeout as exc:
                raise RetriableAdapterError(f"Odoo at {self.endpoint} did not answer: {type(exc).__name__}") from exc
            except requests.RequestException as exc:  # the answer broke off (the server went away mid-reply)
                raise RetriableAdapterError(f"Odoo at {self.endpoint} broke off its answer: {type(exc).__name__}") from exc
            if resp.status_code == 429 or resp.status_code >= 500:
                raise RetriableAdapterError(f"Odoo answered HTTP {resp.status_code}")
            if resp.status_code >= 400:
                raise FatalAdapterError(f"Odoo refused the call: HTTP {resp.status_code}")
            body = resp.json()
            if body.get("error"):
                data = body["error"].get("data") or {}
                name, message = str(data.get("name") or ""), data.get("message") or body["error"].get("message")
                short = name.rsplit(".", 1)[-1]
                if short == "OperationalError" and "does not exist" in str(message) and "database" in str(message):
                    raise ConnectionRefused(_("Odoo at %(url)s has no database named '%(database)s': check the "
                                              "connection's database setting.", url=self.config["url"],
                                              database=self.config["database"]))
                if short in SKIPPABLE:
                    raise SkippableRecordError(f"Odoo {short}: {message}")
                if short in RETRIABLE:
                    raise RetriableAdapterError(f"Odoo {short}: {message}")
                raise FatalAdapterError(f"Odoo {short or 'error'}: {message}")
            return body.get("result")

        return self.retry.run(once, f"{service}.{method}")

    @property
    def uid(self) -> int:
        if self._uid is None:
            uid = self._rpc("common", "authenticate", self.config["database"], self.config["login"], self._secret or "",
                            {})
            if not uid:
                raise ConnectionRefused(_("Odoo refused the login of user '%(login)s' to database '%(database)s': "
                                          "wrong user or password / API key.", login=self.config["login"],
                                          database=self.config["database"]))
            self._uid = int(uid)
        return self._uid

    def call(self, model: str, method: str, args: list[Any], **kwargs: Any) -> Any:
        return self._rpc("object", "execute_kw", self.config["database"], self.uid, self._secret or "", model, method,
                         args, kwargs)

    def search_read(self, model: str, domain: list[Any], fields: list[str], *, limit: int | None = None,
                    archived: bool = False) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"fields": fields, "order": "id asc"}
        if limit:
            kwargs["limit"] = limit
        if archived:
            kwargs["context"] = {"active_test": False}
        return self.call(model, "search_read", [domain], **kwargs)

    def test_connection(self) -> str:
        version = self._rpc("common", "version")
        return f"Odoo {version.get('server_version')}, user id {self.uid}"

    # --- reading ------------------------------------------------------------------------------

    def stream(self, name: str) -> OdooStream:
        """The class reading stream ``name``, bound to this adapter."""
        try:
            return self._streams[name]
        except KeyError:
            raise FatalAdapterError(f"Odoo has no stream {name}") from None

    def _domain(self, base: list[Any], since: dt.datetime | None, cursor: Any) -> list[Any]:
        domain = list(base)
        if since is not None:
            domain.append(("write_date", ">=", since.astimezone(dt.timezone.utc).strftime(STAMP)))
        if cursor is not None:
            domain.append(("id", ">", int(cursor)))
        return domain

    def count(self, stream: str, since: Any) -> int | None:
        source = self.stream(stream)
        kwargs = {"context": {"active_test": False}} if source.archived else {}
        return self.call(source.model, "search_count", [self._domain(source.base_domain(), since, None)], **kwargs)

    def read(self, stream: str, since: Any, cursor: Any = None) -> Iterator[Page]:
        source = self.stream(stream)
        domain, fields = self._domain(source.base_domain(), since, None), source.select()
        for rows in IdPaginator(self.page_size, cursor).pages(lambda after: self.search_read(
                source.model, domain + after, fields, limit=self.page_size, archived=source.archived)):
            yield Page(records=source.records(rows), cursor=rows[-1]["id"], max_key=source.max_key(rows))

    def existing_ids(self, stream: str) -> set[str] | None:
        if stream not in self.detects_deletions:
            return None
        source = self.stream(stream)
        return {str(i) for i in self.call(source.model, "search", [source.base_domain()],
                                          context={"active_test": False})}

    def all_exist(self, stream: str, external_ids: list[str]) -> bool | None:
        if stream not in self.detects_deletions or not all(i.isdigit() for i in external_ids):
            return None
        source = self.stream(stream)
        ids = [int(i) for i in external_ids]
        domain = source.base_domain()
        found = sum(self.call(source.model, "search_count", [[*domain, ["id", "in", ids[start:start + 2000]]]],
                              context={"active_test": False}) for start in range(0, len(ids), 2000))
        return found == len(ids)

    # --- writing ------------------------------------------------------------------------------

    def find(self, kind: str, record: Any) -> str | None:
        if not record.crm_ref:
            return None
        if kind == "customers":
            ids = self.call("res.partner", "search", [[("ref", "=", record.crm_ref)]], limit=1,
                            context={"active_test": False})
        elif kind == "orders":
            ids = self.call("sale.order", "search", [[("client_order_ref", "=", record.crm_ref)]], limit=1)
        else:
            return None
        return str(ids[0]) if ids else None

    def fetch(self, kind: str, external_id: str) -> CustomerRecord | None:
        if kind != "customers" or not str(external_id).isdigit():
            return None
        source = self.stream("customers")
        rows = self.search_read(source.model, [*source.base_domain(), ("id", "=", int(external_id))], source.select(),
                                archived=True)
        return source.records(rows)[0] if rows else None

    def write(self, kind: str, record: Any, external_id: str | None = None) -> str:
        if kind == "credit_limits" and external_id is not None:
            self.call("res.partner", "write", [[int(external_id)], {
                "credit_limit": float(record.credit_limit) if record.credit_limit is not None else 0.0}])
            return external_id
        if kind == "customers":
            values = {k: v for k, v in {"name": record.name, "phone": record.phone, "email": record.email,
                                        "website": record.website}.items() if v}
            if record.kind:
                values["is_company"] = record.kind == "organization"
            if record.addresses:
                a = record.addresses[0]
                values.update({k: v for k, v in {"street": a.line1, "street2": a.line2, "city": a.city,
                                                 "zip": a.postcode}.items() if v})
            if external_id is None:
                values.update(ref=record.crm_ref, customer_rank=1,
                              child_ids=[(0, 0, {"name": c.name, "function": c.title, "phone": c.phone,
                                                 "mobile": c.mobile, "email": c.email, "type": "contact"})
                                         for c in record.contacts])
                return str(self.call("res.partner", "create", [values]))
            known = {c["name"] for c in self.search_read("res.partner", [("parent_id", "=", int(external_id))],
                                                         ["name"])}
            values["child_ids"] = [(0, 0, {"name": c.name, "phone": c.phone, "email": c.email, "type": "contact"})
                                   for c in record.contacts if c.name not in known]
            self.call("res.partner", "write", [[int(external_id)], values])
            return external_id
        if kind == "orders" and external_id is None:
            lines = []
            for ln in record.lines:
                if not ln.product_ref:
                    raise SkippableRecordError(f"line '{ln.description}' has no product linked to Odoo")
                lines.append((0, 0, {"product_id": int(ln.product_ref), "name": ln.description,
                                     "product_uom_qty": float(ln.quantity), "price_unit": float(ln.unit_price)}))
            order_id = self.call("sale.order", "create", [{"partner_id": int(record.customer_ref),
                                                          "client_order_ref": record.crm_ref, "order_line": lines}])
            self.call("sale.order", "action_confirm", [[order_id]])
            return str(order_id)
        raise FatalAdapterError(f"Odoo does not accept {'changes' if external_id else 'new'} {kind} from the CRM")

    def close(self) -> None:
        self.http.close()
