"""Sales KPIs per rep, team or company and period, each one SQL aggregate over the database.

Notation: ``P`` is the period (calendar days in the CRM's time zone), ``P-1`` the period
before it of the same length, "in scope" means owned by the subject (the rep, a member of the
team, anyone for the company). Money is converted to the report currency ``C`` at the stored
exchange rates; rows in a currency without a rate are left out and named in
``excluded_currencies``. A KPI whose denominator is empty has the value None (undefined, with a
note), never a made-up 0; the complaint rate is left out entirely when no plugin counts complaints.
Ratios are rounded half-up to 4 places, money to cents, days to 2 places.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

from sqlalchemy import and_, case, func, literal, select, true

from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext

from ..models import Activity, Expense, Invoice, Opportunity, Order, Payment, SalesTarget, Stage
from . import money
from .periods import Period
from .subjects import Subject

SOLD = ("confirmed", "delivered")
RATIO = Decimal("0.0001")
DAYS = Decimal("0.01")


@dataclass
class KpiValue:
    """One KPI's value with what it was computed from."""

    key: str
    label: str
    unit: str  # ratio, money, days, count, stages
    value: Any
    numerator: Decimal | int | None = None
    denominator: Decimal | int | None = None
    note: str | None = None
    excluded_currencies: list[str] = field(default_factory=list)
    detail: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        # str(): labels and notes are lazily translated, rendered here in the reader's language
        out = {"key": self.key, "label": str(self.label), "unit": self.unit, "value": self.value,
               "numerator": self.numerator, "denominator": self.denominator,
               "note": None if self.note is None else str(self.note),
               "excluded_currencies": self.excluded_currencies}
        if self.detail is not None:
            out["detail"] = self.detail
        return out


@dataclass
class KpiQuery:
    """What the KPIs are computed for: subject, period and report currency."""

    subject: Subject
    period: Period
    currency: str

    def owned(self, column: Any) -> Any:
        cond = self.subject.owner_condition(column)
        return true() if cond is None else cond


def ratio(num: Decimal | int, den: Decimal | int) -> Decimal | None:
    if not den:
        return None
    return (Decimal(num) / Decimal(den)).quantize(RATIO, rounding=ROUND_HALF_UP)


def _money_sum(ctx: ServiceContext, q: KpiQuery, amount: Any, currency_col: Any, *conds: Any) -> tuple[Decimal, list[str]]:
    """Σ amount converted to the report currency, and the currencies that could not be converted."""
    conv = money.converted(ctx, amount, currency_col, q.currency)
    total = ctx.session.scalar(select(func.sum(conv)).where(*conds))
    bad = ctx.session.scalars(select(currency_col).where(*conds, money.unconvertible(ctx, currency_col, q.currency))
                              .distinct().order_by(currency_col)).all()
    return money.cents(total), list(bad)


def _merge(*lists: list[str]) -> list[str]:
    return sorted({c for lst in lists for c in lst})


def _sold_in(q: KpiQuery, period: Period) -> list[Any]:
    return [Order.status.in_(SOLD), Order.order_date >= period.start, Order.order_date < period.end,
            q.owned(Order.owner_id)]


def sales_amount(ctx: ServiceContext, q: KpiQuery, period: Period | None = None) -> KpiValue:
    """Sales: ``Σ total`` of orders in scope, status confirmed or delivered, order date in P (in C)."""
    period = period or q.period
    total, bad = _money_sum(ctx, q, Order.total, Order.currency, *_sold_in(q, period))
    return KpiValue("sales", _("Sales"), "money", total, excluded_currencies=bad)


def plan_completion(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Sales-plan completion rate = sales(P) / plan(P).

    plan(P) = Σ of the subject's monthly plans for the months whose first day is in P: a rep's
    own plans, the team's plans (several teams: their sum), the company's plans (no rep, no
    team). No plan set, or a plan of 0: None ("no plan"), never 0 or infinity.
    """
    sales = sales_amount(ctx, q)
    months = q.period.months()
    subject = q.subject
    if subject.kind == "rep":
        who = and_(SalesTarget.user_id == subject.user_id)
    elif subject.kind == "team":
        who = and_(SalesTarget.user_id.is_(None), SalesTarget.team_id.in_(subject.team_ids))
    else:
        who = and_(SalesTarget.user_id.is_(None), SalesTarget.team_id.is_(None))
    month_key = SalesTarget.year * 100 + SalesTarget.month
    conds = [who, month_key.in_([y * 100 + m for y, m in months] or [-1])]
    count = ctx.session.scalar(select(func.count(SalesTarget.id)).where(*conds))
    plan, bad = _money_sum(ctx, q, SalesTarget.amount, SalesTarget.currency, *conds)
    excluded = _merge(sales.excluded_currencies, bad)
    label = _("Sales-plan completion rate")
    if not count:
        return KpiValue("plan_completion", label, "ratio", None, sales.value, None, _("No sales plan is set for this period."), excluded)
    if not plan:
        return KpiValue("plan_completion", label, "ratio", None, sales.value, plan, _("The sales plan is 0."), excluded)
    return KpiValue("plan_completion", label, "ratio", ratio(sales.value, plan), sales.value, plan,
                    excluded_currencies=excluded)


def sales_growth(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Sales growth rate = (sales(P) - sales(P-1)) / sales(P-1); None when sales(P-1) is 0."""
    now = sales_amount(ctx, q)
    before = sales_amount(ctx, q, q.period.previous())
    excluded = _merge(now.excluded_currencies, before.excluded_currencies)
    label = _("Sales growth rate")
    if not before.value:
        return KpiValue("sales_growth", label, "ratio", None, now.value, before.value,
                        _("No sales in the previous period: growth is undefined."), excluded)
    return KpiValue("sales_growth", label, "ratio", ratio(now.value - before.value, before.value),
                    now.value - before.value, before.value, excluded_currencies=excluded)


def price_retention(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Price retention rate = Σ realised order total / Σ order list total (quantity x list price),
    over orders in scope sold in P whose list total is known and positive."""
    conds = [*_sold_in(q, q.period), Order.list_total.is_not(None), Order.list_total > 0]
    realised, bad1 = _money_sum(ctx, q, Order.total, Order.currency, *conds)
    listed, bad2 = _money_sum(ctx, q, Order.list_total, Order.currency, *conds)
    excluded = _merge(bad1, bad2)
    if not listed:
        return KpiValue("price_retention", _("Price retention rate"), "ratio", None, realised, listed,
                        _("No order with list prices in this period."), excluded)
    return KpiValue("price_retention", _("Price retention rate"), "ratio", ratio(realised, listed), realised, listed,
                    excluded_currencies=excluded)


def sales_expenses(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Sales expenses = Σ amount of expenses in scope spent in P (0 when there are none)."""
    total, bad = _money_sum(ctx, q, Expense.amount, Expense.currency, Expense.spent_on >= q.period.start,
                            Expense.spent_on < q.period.end, q.owned(Expense.owner_id))
    return KpiValue("sales_expenses", _("Sales expenses"), "money", total, excluded_currencies=bad)


def collection_rate(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Receivables collection rate = collected / due, over invoices in scope due in P (not draft
    or cancelled): due = Σ invoice total; collected = Σ per invoice of min(total, payments made
    before the end of P). Partial payments count for what was paid. None when nothing is due."""
    paid = (select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == Invoice.id,
                                                                    Payment.paid_on < q.period.end)
            .correlate(Invoice).scalar_subquery())
    capped = case((paid > Invoice.amount_total, Invoice.amount_total), else_=paid)
    conds = [Invoice.state.not_in(("draft", "cancelled")), Invoice.due_date >= q.period.start,
             Invoice.due_date < q.period.end, q.owned(Invoice.owner_id)]
    due, bad1 = _money_sum(ctx, q, Invoice.amount_total, Invoice.currency, *conds)
    collected, bad2 = _money_sum(ctx, q, capped, Invoice.currency, *conds)
    excluded = _merge(bad1, bad2)
    if not due:
        return KpiValue("collection_rate", _("Receivables collection rate"), "ratio", None, collected, due,
                        _("No receivables fall due in this period."), excluded)
    return KpiValue("collection_rate", _("Receivables collection rate"), "ratio", ratio(collected, due), collected, due,
                    excluded_currencies=excluded)


def visit_success(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Visit success rate = visits done in P with outcome success / visits done in P with an outcome."""
    conds = [Activity.kind == "visit", Activity.status == "done", Activity.outcome.in_(("success", "failure")),
             Activity.done_at >= q.period.start_utc, Activity.done_at < q.period.end_utc, q.owned(Activity.owner_id)]
    done, success = ctx.session.execute(
        select(func.count(), func.count().filter(Activity.outcome == "success")).where(*conds)).one()
    if not done:
        return KpiValue("visit_success", _("Visit success rate"), "ratio", None, 0, 0, _("No visit was done in this period."))
    return KpiValue("visit_success", _("Visit success rate"), "ratio", ratio(success, done), success, done)


def scope_customers(q: KpiQuery) -> Any:
    """A select of the ids of the customers owned in scope (live, not merged away)."""
    return select(Customer.id).where(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None),
                                     q.owned(Customer.owner_id))


def complaint_rate(ctx: ServiceContext, q: KpiQuery) -> KpiValue | None:
    """Complaint rate = complaints received in P from customers owned in scope / orders in scope
    sold in P. The count comes from the ``crm_sales_complaints`` hook (the service plugin); when no
    plugin answers, the KPI is absent (None), not 0. No orders: value None."""
    complaints = ctx.hook.crm_sales_complaints(ctx=ctx, customer_ids=scope_customers(q), start=q.period.start_utc,
                                               end=q.period.end_utc)
    if complaints is None:
        return None
    orders = ctx.session.scalar(select(func.count(Order.id)).where(*_sold_in(q, q.period))) or 0
    if not orders:
        return KpiValue("complaint_rate", _("Complaint rate"), "ratio", None, complaints, 0, _("No orders in this period."))
    return KpiValue("complaint_rate", _("Complaint rate"), "ratio", ratio(complaints, orders), complaints, orders)


def _buyers(q: KpiQuery, period: Period) -> Any:
    return select(Order.customer_id).where(*_sold_in(q, period)).distinct()


def new_customer_rate(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """New-customer development rate = new customers / buying customers: buying customers are the
    distinct customers with an order in scope sold in P; new ones had no sold order (by anyone)
    before P. None when nobody bought."""
    buyers = _buyers(q, q.period).subquery()
    earlier = select(Order.customer_id).where(Order.status.in_(SOLD), Order.order_date < q.period.start)
    total, new = ctx.session.execute(select(func.count(), func.count().filter(buyers.c.customer_id.not_in(earlier)))
                                     .select_from(buyers)).one()
    if not total:
        return KpiValue("new_customer_rate", _("New-customer development rate"), "ratio", None, 0, 0,
                        _("No customer bought in this period."))
    return KpiValue("new_customer_rate", _("New-customer development rate"), "ratio", ratio(new, total), new, total)


def retention_rate(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Old-customer retention rate = customers with an order in scope in P-1 who also have one in P
    / customers with an order in scope in P-1. None when nobody bought in P-1."""
    before = _buyers(q, q.period.previous()).subquery()
    now = _buyers(q, q.period)
    total, kept = ctx.session.execute(select(func.count(), func.count().filter(before.c.customer_id.in_(now)))
                                      .select_from(before)).one()
    if not total:
        return KpiValue("retention_rate", _("Old-customer retention rate"), "ratio", None, 0, 0,
                        _("No customer bought in the previous period."))
    return KpiValue("retention_rate", _("Old-customer retention rate"), "ratio", ratio(kept, total), kept, total)


def pipeline(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Pipeline by stage (now, not per period): open opportunities in scope per stage, with count,
    Σ amount and Σ amount x probability / 100 (in C); the value is the total Σ amount."""
    conv = money.converted(ctx, Opportunity.amount, Opportunity.currency, q.currency)
    weighted = conv * Opportunity.probability / literal(100)
    conds = [Opportunity.status == "open", q.owned(Opportunity.owner_id)]
    rows = ctx.session.execute(
        select(Stage.id, Stage.name, func.count(Opportunity.id), func.sum(conv), func.sum(weighted))
        .join(Opportunity, Opportunity.stage_id == Stage.id).where(*conds)
        .group_by(Stage.id, Stage.name, Stage.sequence).order_by(Stage.sequence, Stage.id)).all()
    bad = ctx.session.scalars(select(Opportunity.currency).where(
        *conds, money.unconvertible(ctx, Opportunity.currency, q.currency)).distinct()).all()
    detail = [{"stage_id": sid, "stage": name, "count": n, "amount": money.cents(amount),
               "weighted": money.cents(w)} for sid, name, n, amount, w in rows]
    total = money.cents(sum((d["amount"] for d in detail), money.ZERO))
    return KpiValue("pipeline", _("Pipeline by stage"), "money", total, excluded_currencies=sorted(bad), detail=detail)


def weighted_forecast(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Weighted forecast = Σ amount x probability / 100 of open opportunities in scope whose
    expected close date is in P (in C)."""
    total, bad = _money_sum(ctx, q, Opportunity.amount * Opportunity.probability / literal(100),
                            Opportunity.currency, Opportunity.status == "open",
                            Opportunity.expected_close_date >= q.period.start,
                            Opportunity.expected_close_date < q.period.end, q.owned(Opportunity.owner_id))
    return KpiValue("weighted_forecast", _("Weighted forecast"), "money", total, excluded_currencies=bad)


def _closed_in(q: KpiQuery) -> list[Any]:
    return [Opportunity.closed_at >= q.period.start_utc, Opportunity.closed_at < q.period.end_utc,
            q.owned(Opportunity.owner_id)]


def win_rate(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Win rate = opportunities in scope won in P / those won or lost in P (by close time)."""
    closed, won = ctx.session.execute(
        select(func.count(), func.count().filter(Opportunity.status == "won"))
        .where(Opportunity.status.in_(("won", "lost")), *_closed_in(q))).one()
    if not closed:
        return KpiValue("win_rate", _("Win rate"), "ratio", None, 0, 0, _("No opportunity was closed in this period."))
    return KpiValue("win_rate", _("Win rate"), "ratio", ratio(won, closed), won, closed)


def cycle_time(ctx: ServiceContext, q: KpiQuery) -> KpiValue:
    """Average cycle time = average days from creation to winning, over opportunities in scope won
    in P. None when none was won."""
    n, avg = ctx.session.execute(select(func.count(), func.avg(Opportunity.cycle_seconds))
                                 .where(Opportunity.status == "won", *_closed_in(q))).one()
    if not n:
        return KpiValue("cycle_time", _("Average cycle time"), "days", None, None, 0, _("No opportunity was won in this period."))
    days = (Decimal(str(avg)) / Decimal(86400)).quantize(DAYS, rounding=ROUND_HALF_UP)
    return KpiValue("cycle_time", _("Average cycle time"), "days", days, None, n)


KPIS: dict[str, Callable[[Any, KpiQuery], KpiValue | None]] = {
    "sales": sales_amount,
    "plan_completion": plan_completion,
    "sales_growth": sales_growth,
    "price_retention": price_retention,
    "sales_expenses": sales_expenses,
    "collection_rate": collection_rate,
    "visit_success": visit_success,
    "complaint_rate": complaint_rate,
    "new_customer_rate": new_customer_rate,
    "retention_rate": retention_rate,
    "pipeline": pipeline,
    "weighted_forecast": weighted_forecast,
    "win_rate": win_rate,
    "cycle_time": cycle_time,
}


def compute(ctx: ServiceContext, q: KpiQuery, only: list[str] | None = None) -> dict[str, KpiValue]:
    """Every KPI (or ``only`` these) for the query; absent KPIs (no complaint data) are left out."""
    ctx.require("sales.kpi.read")
    out = {}
    for key, func_ in KPIS.items():
        if only and key not in only:
            continue
        value = func_(ctx, q)
        if value is not None:
            out[key] = value
    return out
