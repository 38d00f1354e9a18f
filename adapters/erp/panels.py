"""The customer's ERP finance panel: open invoices, amount due, overdue, credit limit and how much is used."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crmcore.contracts import Panel
from crmcore.i18n import _, local_money, local_percent
from crmcore.runtime import ServiceContext

from .models import ErpInvoice


def local_today(ctx: ServiceContext) -> dt.date:
    """Today in the company's time zone (``DEFAULT_TIMEZONE``), which decides what is overdue."""
    return dt.datetime.now(ZoneInfo(ctx.settings.get("DEFAULT_TIMEZONE") or "Asia/Shanghai")).date()


def finance(ctx: ServiceContext, customer: Any, today: dt.date | None = None) -> dict[str, Any]:
    """The ERP's figures for one customer (in the customer's currency; other currencies are listed apart)."""
    today = today or local_today(ctx)
    rows = list(ctx.session.scalars(select(ErpInvoice).where(ErpInvoice.customer_id == customer.id)
                                    .order_by(ErpInvoice.due_date.desc(), ErpInvoice.id.desc())))
    due: dict[str, Decimal] = {}
    overdue: dict[str, Decimal] = {}
    open_rows = [r for r in rows if r.state == "open" and r.amount_due > 0]
    for r in open_rows:
        due[r.currency] = due.get(r.currency, Decimal("0")) + r.amount_due
        if r.due_date is not None and r.due_date < today:
            overdue[r.currency] = overdue.get(r.currency, Decimal("0")) + r.amount_due
    limit = customer.credit_limit
    used = due.get(customer.currency, Decimal("0"))
    share = (used / limit * 100).quantize(Decimal("0.1")) if limit else None
    return {"invoices": rows, "open_invoices": open_rows, "amount_due": due, "overdue": overdue,
            "credit_limit": limit, "currency": customer.currency, "credit_used_percent": share,
            "credit_available": (limit - used) if limit is not None else None}


def finance_panel(ctx: ServiceContext, customer: Any) -> Panel | None:
    if not ctx.can("erp.finance.read"):
        return None
    data = finance(ctx, customer)
    if not data["invoices"] and data["credit_limit"] is None:
        return None
    cur = data["currency"]
    rows: list[tuple[Any, Any]] = []
    for currency, amount in sorted(data["amount_due"].items()) or [(cur, Decimal("0"))]:
        rows.append((_("Amount due (%(currency)s)", currency=currency), local_money(amount, currency)))
        rows.append((_("Overdue (%(currency)s)", currency=currency),
                     local_money(data["overdue"].get(currency, Decimal("0")), currency)))
    if data["credit_limit"] is not None:
        rows.append((_("Credit limit (%(currency)s)", currency=cur), local_money(data["credit_limit"], cur)))
        rows.append((_("Credit used"), local_percent(data["credit_used_percent"] / 100)
                     if data["credit_used_percent"] is not None else "-"))
        rows.append((_("Credit available (%(currency)s)", currency=cur), local_money(data["credit_available"], cur)))
    today = local_today(ctx)
    items = [{"number": r.number, "invoice_date": r.invoice_date.isoformat() if r.invoice_date else None,
              "due_date": r.due_date.isoformat() if r.due_date else None, "currency": r.currency,
              "amount_total": str(r.amount_total), "amount_due": str(r.amount_due), "state": r.state,
              "overdue": bool(r.state == "open" and r.amount_due > 0 and r.due_date and r.due_date < today)}
             for r in data["invoices"][:20]]
    return Panel("erp_finance", _("ERP finance"), rows=rows, items=items, order=36)
