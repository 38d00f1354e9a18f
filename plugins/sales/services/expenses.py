"""Sales expenses (travel, entertainment, samples, ...) per rep, for the sales-expenses KPI."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from crmcore.events import record_change
from crmcore.services.customers import live_customer
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import EXPENSE_CATEGORIES, Expense
from ..schemas.activities import ExpenseSchema
from . import access
from .common import INVALID, check_user

FIELDS = ("owner_id", "customer_id", "opportunity_id", "activity_id", "spent_on", "category", "amount", "currency",
          "description")
CATEGORIES = EXPENSE_CATEGORIES
_SCHEMA = ExpenseSchema()


def validate_expense(ctx: ServiceContext, data: dict[str, Any], existing: Expense | None = None) -> dict[str, Any]:
    """An expense's input checked and converted, the one validation of an expense: ``ExpenseSchema``
    (lengths and categories from the model), then an owner that exists. Empty: spent today, ``other``."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        check_user(ctx, values.get("owner_id"), "owner_id", errors)
        return errors

    data = load(_SCHEMA, data, partial=existing is not None, message=INVALID["expense"], check=check)
    if existing is None:
        data["spent_on"] = data.get("spent_on") or dt.date.today()
        data["category"] = data.get("category") or "other"
    return data


def record_expense(ctx: ServiceContext, data: dict[str, Any]) -> Expense:
    """Record an expense; the owner defaults to the actor (a rep records their own)."""
    ctx.require("sales.expense.write")
    data = validate_expense(ctx, data)
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
