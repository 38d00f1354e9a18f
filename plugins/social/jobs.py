"""The social plugin's scheduled jobs, declared without importing its services or its commands (they load when
a job runs): a web worker learns the jobs' names and intervals without importing ``cli.py``."""
from __future__ import annotations

from crmcore.contracts import Job
from crmcore.runtime import ServiceContext


def recompute(ctx: ServiceContext) -> int:
    """Recompute every customer's social value; return how many customers have one."""
    from .services.value import recompute_all

    return recompute_all(ctx)


def rewards(ctx: ServiceContext) -> dict[str, int]:
    """Pay the referral rewards whose return window is over."""
    from .services.rewards import grant_due

    return grant_due(ctx)


JOBS = [Job("social.recompute", recompute, 6 * 3600, "Recompute every customer's social value"),
        Job("social.rewards", rewards, 3600, "Pay the referral rewards whose return window is over")]
