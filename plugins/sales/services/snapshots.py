"""KPI snapshots: ``crm sales kpis recompute`` and the daily job store every KPI for the company,
each team and each rep, so dashboards and BI tools can read history without recomputing."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, union

from crmcore.db import utcnow
from crmcore.events import jsonable
from crmcore.models import Team, User
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext

from ..models import KpiSnapshot, Opportunity, Order, SalesTarget
from .kpis import KpiQuery, compute
from .periods import Period
from .subjects import Subject, rep


def subjects(ctx: ServiceContext) -> list[Subject]:
    """The company, every team, and every rep who owns an opportunity or an order or has a plan."""
    out = [Subject("company", label="Company")]
    for team in ctx.session.scalars(select(Team).order_by(Team.id)):
        out.append(Subject("team", team_ids=(team.id,), label=team.name))
    owners = union(select(Opportunity.owner_id), select(Order.owner_id), select(SalesTarget.user_id)).subquery()
    for user in ctx.session.scalars(select(User).where(User.id.in_(select(owners.c[0]))).order_by(User.id)):
        out.append(rep(user))
    return out


def recompute(ctx: ServiceContext, period: Period, currency: str) -> int:
    """Compute and store every KPI for every subject for ``period``; return how many were stored."""
    ctx.require("sales.kpi.read")
    stored = 0
    with unit_of_work(ctx):
        for subject in subjects(ctx):
            values = compute(ctx, KpiQuery(subject, period, currency))
            existing = {s.kpi: s for s in ctx.session.scalars(select(KpiSnapshot).where(
                KpiSnapshot.period == period.label, KpiSnapshot.subject == subject.key,
                KpiSnapshot.currency == currency))}
            for key, value in values.items():
                snap = existing.pop(key, None) or KpiSnapshot(period=period.label, subject=subject.key, kpi=key,
                                                              currency=currency)
                snap.value = value.value if isinstance(value.value, (Decimal, int)) else None
                snap.data = jsonable(value.to_dict())
                snap.computed_at = utcnow()
                ctx.session.add(snap)
                stored += 1
            for stale in existing.values():  # e.g. complaint rate after the service plugin was removed
                ctx.session.delete(stale)
    return stored


def stored(ctx: ServiceContext, period: Period, subject: Subject, currency: str) -> list[KpiSnapshot]:
    ctx.require("sales.kpi.read")
    return list(ctx.session.scalars(select(KpiSnapshot).where(
        KpiSnapshot.period == period.label, KpiSnapshot.subject == subject.key, KpiSnapshot.currency == currency)
        .order_by(KpiSnapshot.kpi)))
