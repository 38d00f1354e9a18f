"""Bulk imports of the sales records: products, price lists, orders with lines, invoices, payments, opportunities."""
from __future__ import annotations

import importlib
from typing import Any

from crmcore.i18n import _
from crmcore.imports import Column, ImportKind, ImportOptions, Loader, Row, RowResult
from crmcore.runtime import ServiceContext


def _text_key(column: str) -> Any:
    """The key as stored: the cell trimmed (order and invoice numbers, references are kept as given)."""
    def key_of(row: dict[str, Any]) -> str | None:
        value = row.get(column)
        return (str(value).strip() or None) if value is not None else None
    return key_of


def _kind(name: str, label: Any, key: str, entity: str, loader: str, columns: tuple[Column, ...], *,
          permission: str = "sales.order.write", grouped: bool = False, folded_key: bool = False) -> ImportKind:
    """One sales import kind. ``loader`` is ``"module:function"`` in this package, imported on the first
    batch (``crm --help`` and the plugin's registration stay light); the key is kept as given, trimmed,
    unless ``folded_key`` (product codes, stored folded)."""
    module, function = loader.split(":")

    def load(ctx: ServiceContext, rows: list[Row], options: ImportOptions) -> list[RowResult]:
        found: Loader = getattr(importlib.import_module(f"{__name__}.{module}"), function)
        return found(ctx, rows, options)

    return ImportKind(name=name, label=label, permission=permission, key=key, entity=entity, columns=columns,
                      load=load, grouped=grouped, key_of=None if folded_key else _text_key(key))


CUSTOMER = Column("customer_code", _("Code of the customer (see the customers import)"), required=True)
OWNER = Column("owner", _("User name of the owner (default: the customer's owner)"))
CURRENCY = Column("currency", _("Three-letter ISO 4217 code (default: the customer's currency)"))

KINDS = [
    _kind("products", _("Products"), "code", "product", "catalog:load_products", permission="sales.product.write",
          folded_key=True, columns=(
            Column("code", _("Unique product code: a row whose code exists updates that product"), required=True),
            Column("name", _("Name; required for a new product")),
            Column("list_price", _("List price; required for a new product (0 for free items)")),
            Column("currency", _("Three-letter ISO 4217 code of the list price (default: the CRM's currency)")),
            Column("category", _("Category")),
            Column("unit", _("Unit, e.g. pcs, kg, box")),
            Column("cost", _("Cost price")),
            Column("active", _("true or false (default true)")),
            Column("description", _("Description")),
        )),
    _kind("price_lists", _("Price lists"), "price_list", "price_list", "catalog:load_price_lists",
          permission="sales.product.write", grouped=True, columns=(
            Column("price_list", _("Name of the price list (created by its first row); one row per product"),
                   required=True),
            Column("product_code", _("Code of the product"), required=True),
            Column("price", _("The product's price in this list"), required=True),
            Column("currency", _("Three-letter ISO 4217 code of the list (default: the CRM's currency)")),
            Column("valid_from", _("First day the list applies, e.g. 2026-01-01")),
            Column("valid_to", _("Last day the list applies")),
            Column("active", _("true or false (default true)")),
        )),
    _kind("orders", _("Orders"), "number", "order", "orders:load_orders", grouped=True, columns=(
            Column("number", _("Order number: one row per order line, the order's rows one after another; an "
                               "order whose number exists is updated (its lines replaced)"), required=True),
            CUSTOMER,
            Column("order_date", _("Order date, e.g. 2026-03-31"), required=True),
            Column("status", _("draft, confirmed (default), delivered or cancelled")),
            CURRENCY, OWNER,
            Column("product_code", _("Code of the line's product (optional)")),
            Column("description", _("The line's text (default: the product's name)")),
            Column("quantity", _("Quantity (default 1)")),
            Column("unit_price", _("Unit price"), required=True),
            Column("list_price", _("List price per unit (for the price retention rate)")),
            Column("discount_percent", _("Discount on the line, 0 to 100")),
            Column("line_total", _("The line's total (default: quantity x unit price less the discount)")),
        )),
    _kind("invoices", _("Invoices"), "number", "invoice", "invoices:load_invoices", columns=(
            Column("number", _("Invoice number: an invoice whose number exists is updated"), required=True),
            CUSTOMER,
            Column("order_number", _("Number of the order invoiced (optional)")),
            Column("invoice_date", _("Invoice date, e.g. 2026-03-31"), required=True),
            Column("due_date", _("Due date"), required=True),
            Column("amount_total", _("Amount invoiced"), required=True),
            Column("currency", _("Three-letter ISO 4217 code (default: the order's, else the customer's)")),
            Column("state", _("draft or cancelled; otherwise the state follows the payments (open, partial, paid)")),
            OWNER,
        )),
    _kind("payments", _("Payments"), "reference", "payment", "invoices:load_payments", columns=(
            Column("reference", _("Unique payment reference: a known reference is not paid twice"), required=True),
            Column("invoice_number", _("Number of the invoice paid"), required=True),
            Column("paid_on", _("Date paid, e.g. 2026-03-31"), required=True),
            Column("amount", _("Amount paid, more than zero"), required=True),
            Column("currency", _("Must be the invoice's currency (default)")),
        )),
    _kind("opportunities", _("Opportunities"), "number", "opportunity", "opportunities:load_opportunities",
          permission="sales.opportunity.import", columns=(
            Column("number", _("The opportunity's number in the system it comes from: a number imported before "
                               "updates that opportunity"), required=True),
            Column("name", _("Name; required for a new opportunity")),
            Column("customer_code", _("Code of the customer; required for a new opportunity")),
            Column("stage", _("Name of the stage (default: the first open stage); a lost stage needs lost_reason")),
            Column("amount", _("Expected amount")),
            Column("currency", _("Three-letter ISO 4217 code (default: the customer's currency)")),
            Column("expected_close_date", _("Expected close date, e.g. 2026-06-30")),
            Column("probability", _("Whole number from 0 to 100 (default: the stage's)")),
            Column("owner", _("User name of the owner (default: whoever imports, else the customer's owner)")),
            Column("lost_reason", _("Why it was lost")),
            Column("competitor", _("Competitor")),
            Column("source_channel", _("Where it came from")),
            Column("notes", _("Notes")),
        )),
]
