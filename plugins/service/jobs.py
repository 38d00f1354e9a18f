"""The service plugin's scheduled job, declared without importing its services or its commands (they load when
the job runs): a web worker learns the job's name and interval without importing ``cli.py``."""
from __future__ import annotations

from crmcore.contracts import Job
from crmcore.runtime import ServiceContext


def sla_check(ctx: ServiceContext) -> None:
    """Mark overdue tickets as breached and escalate them (``crm service sla-check`` does the same)."""
    from .services.sla import check_breaches

    check_breaches(ctx)


JOBS = [Job("service.sla_check", sla_check, 300, "Detect SLA breaches and escalate overdue tickets")]
