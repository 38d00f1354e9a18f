"""Sales expenses (travel, entertainment, samples, ...) per rep, for the sales-expenses KPI."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services.customers import live_customer
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext

from ..models import Expense
from . import access
from .common import as_date, check_user, raise_if
from .money import clean_currency, parse_amount

FIELDS = ("owner_id", "customer_id", "opportunity_id", "activity_id", "spent_on", "category", "amount", "currency",
          "description")
CATEGORIES = ("travel", "entertainment", "samples", "gifts", "marketing", "other")


def record_expense(ctx: ServiceContext, data: dict[str, Any]) -> Expense:
    """Record an expense; the owner defaults to the actor (a rep records their own)."""
    ctx.require("sales.expense.write")
    data = dict(data)
    errors: dict[str, list[str]] = {}
    data["amount"] = parse_amount(data.get("amount"), "amount", errors)
    if data["amount"] is None and "amount" not in errors:
        errors["amount"] = [_("Required.")]
    data["spent_on"] = as_date(data.get("spent_on"), "spent_on", errors) or (None if "spent_on" in errors
                                                                             else dt.date.today())
    data["category"] = data.get("category") or "other"
    if data["category"] not in CATEGORIES:
        errors["category"] = [_("Must be one of: %(choices)s.", choices=", ".join(CATEGORIES))]
    if "currency" in data:
        data["currency"] = clean_currency(data["currency"], "currency", errors)
    check_user(ctx, data.get("owner_id"), "owner_id", errors)
    raise_if(errors, "expense")
    if data.get("customer_id") is not None:
        live_customer(ctx, data["customer_id"])
    if "owner_id" not in data and ctx.actor is not None:
        data["owner_id"] = ctx.actor.id
    access.may_assign(ctx, data.get("owner_id"), "expense")
    with unit_of_work(ctx):
        expense = Expense(currency=ctx.settings["DEFAULT_CURRENCY"])
        changes = apply_changes(expense, data, FIELDS)
        ctx.session.add(expense)
        ctx.session.flush()
        record_change(ctx, "expense", "created", expense.id, changes, event_name="sales.expense.created")
    return expense


def list_expenses(ctx: ServiceContext, *, owner_id: int | None = None, page: int = 1,
                  page_size: int = 25) -> tuple[list[Expense], int]:
    ctx.require("sales.kpi.read")
    stmt = access.scope_owned(ctx, select(Expense), Expense.owner_id)
    if owner_id is not None:
        stmt = stmt.where(Expense.owner_id == owner_id)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(Expense.spent_on.desc(), Expense.id.desc())
                                .offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)
