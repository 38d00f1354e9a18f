"""Import of invoices (by number; customers by code, orders by number) and payments (by reference,
invoices by number), validated by the order service's rules, written set-based with bulk audit."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import bindparam, update

from crmcore.db import mark_stored, transient, utcnow
from crmcore.errors import Conflict, CRMError, ValidationError
from crmcore.i18n import _
from crmcore.imports import ImportOptions, Row, RowResult
from crmcore.imports.driver import record
from crmcore.imports.sql import insert_rows
from crmcore.runtime import ServiceContext

from ..models import Invoice, Order, Payment
from ..services import orders as svc
from .common import (by_key, cell, customer_id, customers_by_code, done, exists, owner_id, split, unknown_columns,
                     users_by_name)

INVOICE_COLUMNS = ("number", "customer_code", "order_number", "invoice_date", "due_date", "currency", "amount_total",
                   "state", "owner")
PAYMENT_COLUMNS = ("reference", "invoice_number", "paid_on", "amount", "currency")
AS_COLUMN = {"customer_id": "customer_code", "owner_id": "owner", "order_id": "order_number",
             "invoice_id": "invoice_number"}
INVOICE_VALUES = ("number", "customer_id", "order_id", "owner_id", "invoice_date", "due_date", "currency",
                  "amount_total", "amount_paid", "state", "source")


def _columns(errors: dict[str, Any]) -> dict[str, Any]:
    """Errors under the file's column names (``customer_code``, not ``customer_id``)."""
    return {AS_COLUMN.get(k, k): v for k, v in errors.items()}


def _first_pass(rows: Sequence[Any], columns: Sequence[str], key: str) -> tuple[list[RowResult | None], list[int]]:
    """Rows with unknown columns or without their key rejected; the positions of the others."""
    results: list[RowResult | None] = [None] * len(rows)
    for i, row in enumerate(rows):
        bad = unknown_columns(row, columns)
        if not bad and cell(row, key) is None:
            bad = {key: [_("This field cannot be empty.")]}
        if bad:
            results[i] = RowResult(i, "rejected", key=cell(row, key) if isinstance(row, dict) else None, errors=bad)
    return results, [i for i, r in enumerate(results) if r is None]


def load_invoices(ctx: ServiceContext, batch: Sequence[Row], options: ImportOptions = ImportOptions()) -> list[RowResult]:
    """Create, update or leave unchanged one batch of invoices, by number. The state follows the
    payments (open, partial, paid) unless the file says ``draft`` or ``cancelled``."""
    ctx.require("sales.order.write")
    lines, rows = split(batch)
    results, live = _first_pass(rows, INVOICE_COLUMNS, "number")
    stored = by_key(ctx, Invoice.number, (str(cell(rows[i], "number")) for i in live))
    customers = customers_by_code(ctx, (cell(rows[i], "customer_code") for i in live))
    orders = by_key(ctx, Order.number, (cell(rows[i], "order_number") for i in live))
    users = users_by_name(ctx, (cell(rows[i], "owner") for i in live))
    by_id = {c.id: c for c in customers.values()}
    created: dict[str, tuple[Invoice, dict[str, Any], int]] = {}
    updated: list[tuple[Invoice, dict[str, Any], int]] = []
    with ctx.session.no_autoflush:
        for i in live:
            row, number = rows[i], str(cell(rows[i], "number"))
            if number in created:
                results[i] = RowResult(i, "rejected", key=number, errors={"number": [
                    _("Invoice %(number)s is in this file twice.", number=number)]})
                continue
            errors: dict[str, list[Any]] = {}
            data: dict[str, Any] = {"number": number,
                                    "customer_id": customer_id(customers, cell(row, "customer_code"), errors)}
            if cell(row, "order_number") is not None:
                order = orders.get(str(cell(row, "order_number")))
                if order is None:
                    errors["order_number"] = [_("No order has the number '%(number)s'.",
                                                number=cell(row, "order_number"))]
                data["order_id"] = order.id if order is not None else None
            if cell(row, "owner") is not None:
                data["owner_id"] = owner_id(users, cell(row, "owner"), errors)
            data.update({k: cell(row, k) for k in ("invoice_date", "due_date", "currency", "amount_total", "state")
                         if cell(row, k) is not None})
            invoice = stored.get(number)
            try:
                if invoice is not None and not options.update:
                    raise exists(_("The invoice is not valid."))
                if errors:
                    raise ValidationError(_("The invoice is not valid."), errors=errors)
                data = svc.validate_invoice(ctx, {k: v for k, v in data.items() if v is not None}, invoice,
                                            by_id)
                if invoice is None:
                    data.setdefault("source", "import")
                    invoice, changes = svc.new_invoice(ctx, data, by_id.get(data["customer_id"]))
                    ctx.hook.crm_before_save(ctx=ctx, entity="invoice", obj=invoice, changes=changes, created=True)
                    created[number] = (invoice, changes, i)
                    continue
                if not svc.invoice_differs(invoice, data):
                    results[i] = RowResult(i, "unchanged", invoice.id, number)
                    continue
                with ctx.session.begin_nested():  # refused by a plugin: left as it was
                    changes = svc.apply_invoice(invoice, data)
                    if changes:
                        ctx.hook.crm_before_save(ctx=ctx, entity="invoice", obj=invoice, changes=changes,
                                                 created=False)
            except CRMError as exc:
                results[i] = RowResult(i, "rejected", key=number, errors=_columns(exc.errors or {"row": [exc.message]}))
                continue
            if changes:
                updated.append((invoice, changes, i))
            else:
                results[i] = RowResult(i, "unchanged", invoice.id, number)
    ctx.session.flush()
    new = list(created.values())
    ids = insert_rows(ctx, Invoice.__table__, [{k: inv.__dict__.get(k) for k in INVOICE_VALUES} for inv, _c, _i in new])
    entries = []
    for (invoice, changes, i), new_id in zip(new, ids, strict=True):
        entries.append(("invoice", "created", new_id, changes,
                        {"number": invoice.number, "customer_id": invoice.customer_id}, "sales.invoice.created"))
        results[i] = RowResult(i, "created", new_id, invoice.number)
    for invoice, changes, i in updated:
        entries.append(("invoice", "updated", invoice.id, changes,
                        {"number": invoice.number, "customer_id": invoice.customer_id}, "sales.invoice.updated"))
        results[i] = RowResult(i, "updated", invoice.id, invoice.number)
    record(ctx, options, entries)
    return done(results, lines)


def load_payments(ctx: ServiceContext, batch: Sequence[Row], options: ImportOptions = ImportOptions()) -> list[RowResult]:
    """Record one batch of payments, by reference (a known reference is ``unchanged``; a payment is
    never changed afterwards). Each adds to what is paid of its invoice, whose state follows."""
    ctx.require("sales.order.write")
    lines, rows = split(batch)
    results, live = _first_pass(rows, PAYMENT_COLUMNS, "reference")
    known = by_key(ctx, Payment.reference, (str(cell(rows[i], "reference")) for i in live))
    invoices = by_key(ctx, Invoice.number, (cell(rows[i], "invoice_number") for i in live))
    new: list[tuple[dict[str, Any], Invoice, int]] = []
    paid: dict[int, tuple[Invoice, Decimal, str]] = {}  # each invoice's amount paid and state before the batch
    in_scope: set[int] = set()
    for i in live:
        row, reference = rows[i], str(cell(rows[i], "reference"))
        invoice = invoices.get(str(cell(row, "invoice_number") or ""))
        try:
            if invoice is None:
                number = cell(row, "invoice_number")
                raise ValidationError(_("The payment is not valid."), errors={"invoice_number": [
                    _("No invoice has the number '%(number)s'.", number=number) if number else
                    _("Say which invoice is paid.")]})
            if invoice.id not in in_scope:  # the invoice in the actor's scope (checked once per batch)
                svc.get_invoice(ctx, invoice.id)
                in_scope.add(invoice.id)
            earlier = svc.earlier_payment(invoice, reference, known.get(reference))
            data = {k: cell(row, k) for k in ("paid_on", "amount", "currency", "reference") if cell(row, k) is not None}
            clean = svc.validate_payment(ctx, invoice, {**data, "source": "import"}, recorded=earlier is not None)
            if earlier is not None:
                if earlier.amount != clean["amount"] or earlier.paid_on != clean["paid_on"]:
                    raise ValidationError(_("The payment is not valid."), errors={"reference": [
                        _("Payment %(reference)s was recorded as %(amount)s on %(date)s; a payment is never changed.",
                          reference=reference, amount=earlier.amount, date=earlier.paid_on.isoformat())]})
                results[i] = RowResult(i, "unchanged", earlier.id, reference)
                continue
        except CRMError as exc:
            results[i] = RowResult(i, "rejected", key=reference, errors=_columns(exc.errors or {"row": [exc.message]}))
            continue
        paid.setdefault(invoice.id, (invoice, invoice.amount_paid, invoice.state))
        svc.pay(invoice, clean["amount"])
        known[reference] = transient(Payment, {"invoice_id": invoice.id, **clean})  # the same reference again later
        new.append((clean, invoice, i))
    _write_paid(ctx, [invoice for invoice, _before, _state in paid.values()])
    ids = insert_rows(ctx, Payment.__table__, [{"invoice_id": inv.id, **clean} for clean, inv, _i in new])
    entries: list[tuple[Any, ...]] = []
    for (clean, invoice, i), new_id in zip(new, ids, strict=True):
        known[clean["reference"]].id = new_id
        entries.append(("payment", "created", new_id, {"amount": [None, clean["amount"]]},
                        {"invoice_id": invoice.id, "customer_id": invoice.customer_id}, "sales.payment.recorded"))
        results[i] = RowResult(i, "created", new_id, clean["reference"])
    for invoice, amount_before, state_before in paid.values():
        entries.append(("invoice", "updated", invoice.id,
                        {"amount_paid": [amount_before, invoice.amount_paid], "state": [state_before, invoice.state]},
                        None, "sales.invoice.paid" if invoice.state == "paid" else "sales.invoice.updated"))
    record(ctx, options, entries)
    for result in results:  # a reference twice in this batch: the payment recorded just now
        if result is not None and result.status == "unchanged" and result.id is None:
            result.id = known[str(result.key)].id
    return done(results, lines)


def _write_paid(ctx: ServiceContext, invoices: list[Invoice]) -> None:
    """What is paid of the batch's invoices and their state (set by ``svc.pay``), one ``UPDATE`` for all of
    them, each checked against the version it was read at (the ORM sent one statement per invoice). A
    version changed meanwhile is a ``Conflict``: the driver then loads the batch again row by row."""
    if not invoices:
        return
    table = Invoice.__table__
    now = utcnow()
    rows = [{"b_id": inv.id, "b_version": inv.version, "amount_paid": inv.amount_paid, "state": inv.state,
             "version": inv.version + 1, "updated_at": now} for inv in invoices]
    stmt = update(table).where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
    written = ctx.session.connection().execute(stmt, rows).rowcount
    if written != len(rows):
        raise Conflict(_("The record was changed by someone else; reload it and try again."))
    for invoice, row in zip(invoices, rows, strict=True):  # as stored now: nothing left for the ORM to flush
        mark_stored(ctx.session, invoice, {key: row[key] for key in ("amount_paid", "state", "version", "updated_at")})
