"""The sales plugin's scheduled job, declared without importing its services or its commands (they load when
the job runs): a web worker learns the job's name and interval without importing ``cli.py``."""
from __future__ import annotations

from crmcore.contracts import Job
from crmcore.runtime import ServiceContext


def daily_kpis(ctx: ServiceContext) -> None:
    """Recompute this and last month's KPI snapshots in the base currency."""
    from .services.money import base_currency
    from .services.periods import parse_period
    from .services.snapshots import recompute

    period = parse_period(None, ctx)
    recompute(ctx, period, base_currency(ctx))
    recompute(ctx, period.previous(), base_currency(ctx))


JOBS = [Job("sales.kpis", daily_kpis, 24 * 3600, "Recompute this and last month's sales KPI snapshots")]
