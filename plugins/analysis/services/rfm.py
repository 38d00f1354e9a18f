"""RFM value segmentation computed in the database: one aggregate query per customer, rank-based
scores by window functions, the segment by a lookup in the segment table, stored by
``INSERT ... SELECT`` for the run date; segment changes since the previous run become events."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Sequence

from sqlalchemy import and_, case, delete, func, insert, literal, or_, select
from sqlalchemy.orm import aliased

from crmcore.contracts import Event
from crmcore.events import audit, emit
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load
from crmcore.staging import staged
from crmcore.runtime import ServiceContext
from plugins.sales.models import Order
from plugins.sales.services.money import base_currency, converted

from ..models import RfmScore, SegmentRule
from ..schemas import RfmSettingsSchema
from .checks import convertible, live_sold, missing_rates, stale_history
from .segments import ensure_segments, segment_labels
from .sqlfuncs import as_date, days_between

SEGMENT_EVENT = "analysis.segment.changed"
EVENT_BATCH = 500
SEGMENT_SCALE = 5


@dataclass
class RfmConfig:
    """How to score: ``bins`` rank-based quantiles, or fixed ``*_edges`` per dimension.

    Recency edges are days, ascending: ``[30, 90, 180, 365]`` gives 5 under 30 days and 1 from a
    year on. Frequency and monetary edges are ascending lower bounds: ``[2, 3, 5, 10]`` gives 1
    below 2 orders and 5 from 10 on. Edges give ``len(edges) + 1`` scores.
    """

    bins: int = 5
    recency_edges: list[float] = field(default_factory=list)
    frequency_edges: list[float] = field(default_factory=list)
    monetary_edges: list[float] = field(default_factory=list)

    @classmethod
    def from_settings(cls, ctx: ServiceContext, **overrides: Any) -> "RfmConfig":
        """The settings file's ``[analysis.rfm]`` with ``overrides`` (a run's), checked by ``RfmSettingsSchema``."""
        raw = dict((ctx.settings.get("ANALYSIS") or {}).get("rfm") or {})
        raw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**validate_settings(raw))

    def check(self) -> None:
        """Check (and convert) these values by ``RfmSettingsSchema``, the one validation of the RFM settings."""
        for name, value in validate_settings({k: getattr(self, k) for k in _RFM.fields}).items():
            setattr(self, name, value)


_RFM = RfmSettingsSchema()


def validate_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """RFM settings checked by ``RfmSettingsSchema`` (bins 2 to 10; edges numbers, increasing, at most 9):
    the one validation of the API, the CLI and the settings file. Raises ``ValidationError`` by field."""
    given = {k: v for k, v in raw.items() if k in _RFM.fields and v is not None}
    return load(_RFM, given, partial=False, message=_("The RFM settings are not valid."))


def _rank_score(value: Any, bins: int, *, descending: bool = False) -> Any:
    """1..bins from the value's rank among all customers (ties share the lower score)."""
    rank = func.rank().over(order_by=value.desc() if descending else value.asc())
    return ((rank - 1) * bins) // func.count().over() + 1


def _edge_score(value: Any, edges: Sequence[float], *, lower_is_better: bool = False) -> Any:
    passed = sum((case((value >= literal(e), 1), else_=0) for e in edges), literal(0))
    return (len(edges) + 1 - passed) if lower_is_better else (passed + 1)


def _scale(score: Any, top: int) -> Any:
    """A score in 1..top on the segment table's 1..5 scale."""
    return score if top == SEGMENT_SCALE else ((score - 1) * SEGMENT_SCALE) // top + 1


def customer_totals(ctx: ServiceContext, as_of: dt.date, currency: str) -> Any:
    """Subquery: per customer with sold orders up to ``as_of``: last order date, orders, amount in ``currency``.
    Orders whose currency has no rate to ``currency`` are left out (``checks.missing_rates`` says so)."""
    amount = converted(ctx, Order.total, Order.currency, currency)
    return (select(Order.customer_id.label("customer_id"), func.max(Order.order_date).label("last_order"),
                   func.count(Order.id).label("frequency"), func.coalesce(func.sum(amount), 0).label("monetary"))
            .join(Customer, Customer.id == Order.customer_id)
            .where(live_sold(as_of), convertible(ctx, currency))
            .group_by(Order.customer_id)).subquery("totals")


def scored_select(ctx: ServiceContext, as_of: dt.date, config: RfmConfig, currency: str) -> Any:
    """The SELECT that ``run_rfm`` inserts: one row per customer with values, scores and segment."""
    totals = customer_totals(ctx, as_of, currency)
    recency = days_between(as_date(as_of), totals.c.last_order)
    base = select(totals.c.customer_id, recency.label("recency_days"), totals.c.frequency,
                  totals.c.monetary).subquery("base")
    top = {}
    if config.recency_edges:
        r = _edge_score(base.c.recency_days, config.recency_edges, lower_is_better=True)
        top["r"] = len(config.recency_edges) + 1
    else:
        r, top["r"] = _rank_score(base.c.recency_days, config.bins, descending=True), config.bins
    if config.frequency_edges:
        f, top["f"] = _edge_score(base.c.frequency, config.frequency_edges), len(config.frequency_edges) + 1
    else:
        f, top["f"] = _rank_score(base.c.frequency, config.bins), config.bins
    if config.monetary_edges:
        m, top["m"] = _edge_score(base.c.monetary, config.monetary_edges), len(config.monetary_edges) + 1
    else:
        m, top["m"] = _rank_score(base.c.monetary, config.bins), config.bins
    scored = select(base, r.label("r_score"), f.label("f_score"), m.label("m_score")).subquery("scored")
    rs, fs, ms = (_scale(scored.c.r_score, top["r"]), _scale(scored.c.f_score, top["f"]),
                  _scale(scored.c.m_score, top["m"]))
    segment = (select(SegmentRule.name)
               .where(SegmentRule.active.is_(True), rs.between(SegmentRule.r_min, SegmentRule.r_max),
                      fs.between(SegmentRule.f_min, SegmentRule.f_max), ms.between(SegmentRule.m_min, SegmentRule.m_max))
               .order_by(SegmentRule.priority, SegmentRule.id).limit(1).scalar_subquery())
    return select(as_date(as_of).label("run_date"), scored.c.customer_id, scored.c.recency_days,
                  scored.c.frequency, scored.c.monetary, literal(currency).label("currency"),
                  scored.c.r_score, scored.c.f_score, scored.c.m_score, segment.label("segment"))


def previous_run(ctx: ServiceContext, model: Any, before: dt.date) -> dt.date | None:
    return ctx.session.scalar(select(func.max(model.run_date)).where(model.run_date < before))


def latest_run(ctx: ServiceContext, model: Any) -> dt.date | None:
    return ctx.session.scalar(select(func.max(model.run_date)))


def run_rfm(ctx: ServiceContext, as_of: dt.date | None = None, *, config: RfmConfig | None = None,
            currency: str | None = None) -> dict[str, Any]:
    """Score every customer with sold orders as of ``as_of`` (default today, UTC); replace that
    day's scores; emit ``analysis.segment.changed`` for customers whose segment differs from the
    previous run (none on the first run), ``EVENT_BATCH`` customers per event. ``warnings`` name
    orders left out for want of an exchange rate and history that ended long before ``as_of``."""
    ctx.require("analysis.run")
    as_of = as_of or dt.datetime.now(dt.timezone.utc).date()
    config = config or RfmConfig.from_settings(ctx)
    currency = (currency or base_currency(ctx)).upper()
    columns = ["run_date", "customer_id", "recency_days", "frequency", "monetary", "currency", "r_score",
               "f_score", "m_score", "segment"]
    warnings = missing_rates(ctx, as_of, currency) + stale_history(ctx, as_of)
    with unit_of_work(ctx):
        ensure_segments(ctx)
    # the scoring reads every order: staged first, so the write below holds SQLite's lock only to copy
    with unit_of_work(ctx), staged(ctx.session, scored_select(ctx, as_of, config, currency)) as scored:
        ctx.session.execute(delete(RfmScore).where(RfmScore.run_date == as_of))
        ctx.session.execute(insert(RfmScore).from_select(columns, scored))
        count = ctx.session.scalar(select(func.count()).select_from(RfmScore).where(RfmScore.run_date == as_of)) or 0
        before = previous_run(ctx, RfmScore, as_of)
        changed = _emit_changes(ctx, as_of, before) if before is not None else 0
        audit(ctx, "computed", "analysis_rfm", as_of.isoformat(), data={
            "customers": count, "previous_run": before, "segment_changes": changed, "currency": currency,
            "bins": config.bins, "warnings": warnings})
    return {"run_date": as_of, "customers": int(count), "previous_run": before, "segment_changes": changed,
            "currency": currency, "segments": segment_sizes(ctx, as_of), "warnings": warnings}


def _emit_changes(ctx: ServiceContext, as_of: dt.date, before: dt.date) -> int:
    new, old = aliased(RfmScore), aliased(RfmScore)
    stmt = (select(new.customer_id, old.segment, new.segment)
            .join(old, and_(old.customer_id == new.customer_id, old.run_date == before), isouter=True)
            .where(new.run_date == as_of,
                   or_(old.id.is_(None), and_(old.segment.is_(None), new.segment.is_not(None)),
                       and_(old.segment.is_not(None), new.segment.is_(None)), old.segment != new.segment))
            .order_by(new.customer_id))
    batch: list[dict[str, Any]] = []
    total = 0
    for customer_id, was, now in ctx.session.execute(stmt):
        batch.append({"customer_id": customer_id, "from": was, "to": now})
        if len(batch) >= EVENT_BATCH:
            total += _emit_batch(ctx, as_of, before, batch)
            batch = []
    if batch:
        total += _emit_batch(ctx, as_of, before, batch)
    return total


def _emit_batch(ctx: ServiceContext, as_of: dt.date, before: dt.date, batch: list[dict[str, Any]]) -> int:
    emit(ctx, Event(name=SEGMENT_EVENT, entity="analysis_rfm", entity_id=as_of.isoformat(),
                    data={"run_date": as_of.isoformat(), "previous_run": before.isoformat(), "changes": batch}))
    return len(batch)


def segment_sizes(ctx: ServiceContext, run_date: dt.date | None = None, customer_ids: Any = None) -> list[dict[str, Any]]:
    """Customers and value per segment on a run (the latest by default), largest first."""
    run_date = run_date or latest_run(ctx, RfmScore)
    if run_date is None:
        return []
    stmt = (select(RfmScore.segment, func.count(), func.sum(RfmScore.monetary), func.avg(RfmScore.recency_days),
                   func.avg(RfmScore.frequency))
            .where(RfmScore.run_date == run_date).group_by(RfmScore.segment))
    if customer_ids is not None:
        stmt = stmt.where(RfmScore.customer_id.in_(customer_ids))
    labels = segment_labels(ctx)  # in the reader's language
    rows = [{"segment": seg, "label": labels.get(seg, seg or "-"), "customers": int(n),
             "monetary": money or 0, "avg_recency_days": round(float(rec or 0), 1),
             "avg_frequency": round(float(freq or 0), 2)}
            for seg, n, money, rec, freq in ctx.session.execute(stmt)]
    return sorted(rows, key=lambda r: (-r["customers"], r["segment"] or ""))
