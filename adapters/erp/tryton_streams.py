"""Tryton's streams: per stream the model, domain and fields read, and how its rows become records."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from .base import (ContactPerson, CreditLimitRecord, CustomerRecord, InvoiceRecord, OrderItem, PaymentRecord,
                   PostalAddress, PriceRecord, ProductRecord, SalesOrderRecord)
from .streams import ErpStream, Rows

CRM_PREFIX = "CRM:"  # party identifier code carrying the CRM customer code
SALE_STATES = {"draft": "draft", "quotation": "quotation", "confirmed": "confirmed", "processing": "confirmed",
               "done": "done", "cancelled": "cancelled"}


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


class TrytonStream(ErpStream):
    """A Tryton stream: ``extra`` are relations (their ``write_date``) or dotted date fields whose change
    is the record's change; ``context`` is added to the user's for its reads."""

    extra: ClassVar[tuple[str, ...]] = ()
    context: ClassVar[dict[str, Any] | None] = None

    def changed(self, since: dt.datetime | None) -> list[Any]:
        """The domain of rows created or written at or after ``since`` (themselves or an ``extra`` path)."""
        if since is None:
            return []
        return [["OR", ("create_date", ">=", since), ("write_date", ">=", since),
                 *[(path if path.endswith("_date") else f"{path}.write_date", ">=", since) for path in self.extra]]]

    def max_key(self, rows: Rows) -> dt.datetime | None:
        """The page's highest change stamp (a product's template counts: its change is the product's)."""
        stamps = [_stamp(r) for r in rows]
        stamps += [t for r in rows if (t := (r.get("template.") or {}).get("write_date")) is not None]
        return max((s for s in stamps if s), default=None)


class _NotCompanyParty(TrytonStream):
    model = "party.party"

    def base_domain(self) -> list[Any]:
        return [("id", "!=", self.adapter.company["party"])]


class Customers(_NotCompanyParty):
    name = "customers"
    extra = ("contact_mechanisms", "addresses")
    context = _ARCHIVED["customers"]
    fields = tuple(PARTY_FIELDS)

    def records(self, rows: Rows) -> list[CustomerRecord]:
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


class CreditLimits(_NotCompanyParty):
    """Module ``account_credit_limit``: the party's ``credit_limit_amount`` (a MultiValue, whose rows change
    without the party's write_date)."""

    name = "credit_limits"
    extra = ("credit_limit_amounts", "credit_limit_amounts.create_date")
    fields = ("create_date", "write_date", "credit_limit_amount")

    def available(self) -> bool:
        models = self.adapter._models
        if self.name not in models:
            models[self.name] = "credit_limit_amount" in self.adapter.client.call(
                "party.party", "fields_get", ["credit_limit_amount"])
        return models[self.name]

    def records(self, rows: Rows) -> list[CreditLimitRecord]:
        currency = self.adapter.company["currency."]["code"]
        return [CreditLimitRecord(external_id=str(r["id"]), customer_ref=str(r["id"]),
                                  credit_limit=r.get("credit_limit_amount"), currency=currency, updated_at=_stamp(r))
                for r in rows]


PRICE_LINE_FIELDS = tuple(f"lines.{f}" for f in ("product", "category", "quantity", "formula", "sequence"))


class Prices(TrytonStream):
    """Module ``product_price_list``: the fixed-price lines of ``product.price_list``."""

    name = "prices"
    model = "product.price_list"
    extra = ("lines", "lines.create_date")
    fields = ("name", "create_date", "write_date", "company.currency.code", *PRICE_LINE_FIELDS)

    def available(self) -> bool:
        models = self.adapter._models
        if self.name not in models:
            models[self.name] = bool(self.adapter.client.search_read(
                "ir.module", [("name", "=", "product_price_list"), ("state", "=", "activated")], ["id"], limit=1))
        return models[self.name]

    def records(self, rows: Rows) -> list[PriceRecord]:
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


class Payments(TrytonStream):
    """Paying or reconciling an invoice writes it (payment_lines, state): read through the invoices."""

    name = "payments"
    model = "account.invoice"
    domain = (("type", "=", "out"), ("state", "in", ["posted", "paid"]))
    fields = ("total_amount", "currency.code", "payment_lines", "reconciliation_lines", "create_date", "write_date")

    def records(self, rows: Rows) -> list[PaymentRecord]:
        """The receivable lines that pay each invoice: ``payment_lines`` (added while it is open) and
        ``reconciliation_lines`` (what settled it: payments, credit notes, write-offs), oldest first.
        A line that settles several invoices at once counts for each up to what it still owed."""
        ids = sorted({i for r in rows for i in (r.get("payment_lines") or []) + (r.get("reconciliation_lines") or [])})
        lines = {ln["id"]: ln for ln in self.adapter.client.search_read(
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


class Products(TrytonStream):
    name = "products"
    model = "product.product"
    extra = ("template",)
    context = _ARCHIVED["products"]
    fields = ("code", "name", "active", "create_date", "write_date", "list_price_used", "default_uom.symbol",
              "template.write_date")

    def records(self, rows: Rows) -> list[ProductRecord]:
        currency = self.adapter.company["currency."]["code"]
        return [ProductRecord(external_id=str(r["id"]), code=r.get("code") or f"TRYTON-{r['id']}", name=r["name"],
                              unit=(r.get("default_uom.") or {}).get("symbol"), list_price=r.get("list_price_used"),
                              currency=currency, active=bool(r.get("active", True)), updated_at=_stamp(r))
                for r in rows]


class Orders(TrytonStream):
    name = "orders"
    model = "sale.sale"
    extra = ("lines",)
    domain = (("state", "!=", "draft"),)
    fields = ("number", "reference", "party", "sale_date", "state", "total_amount", "currency.code", "create_date",
              "write_date")

    def records(self, rows: Rows) -> list[SalesOrderRecord]:
        lines = self.adapter.client.search_read(
            "sale.line", [("sale", "in", [r["id"] for r in rows]), ("type", "=", "line")],
            ["sale", "product", "description", "quantity", "unit_price", "amount"], order=[["id", "ASC"]])
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


class Invoices(TrytonStream):
    name = "invoices"
    model = "account.invoice"
    domain = (("type", "=", "out"), ("state", "in", ["posted", "paid", "cancelled"]))
    fields = ("number", "party", "invoice_date", "state", "total_amount", "amount_to_pay", "currency.code",
              "lines_to_pay", "sales", "create_date", "write_date")

    def select(self) -> list[str]:
        """``sales`` only where invoices name their sales (field of the module ``sale``; asked once)."""
        models = self.adapter._models
        if "invoice.sales" not in models:
            models["invoice.sales"] = "sales" in self.adapter.client.call("account.invoice", "fields_get", ["sales"])
        return [f for f in self.fields if f != "sales" or models["invoice.sales"]]

    def records(self, rows: Rows) -> list[InvoiceRecord]:
        line_ids = [i for r in rows for i in r.get("lines_to_pay") or []]
        maturity: dict[int, dt.date] = {}
        if line_ids:
            for ln in self.adapter.client.search_read("account.move.line", [("id", "in", line_ids)], ["maturity_date"]):
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


STREAMS: tuple[type[TrytonStream], ...] = (Customers, Products, Prices, Orders, Invoices, Payments, CreditLimits)
