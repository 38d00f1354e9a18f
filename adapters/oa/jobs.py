"""The OA adapter's scheduled jobs, declared without importing delivery, the inbox or the providers (they load
when a job runs, not when ``crm jobs list`` starts)."""
from __future__ import annotations

from typing import Any

from crmcore.contracts import Job
from crmcore.runtime import ServiceContext


def process_inbox(ctx: ServiceContext) -> Any:
    from .inbox import process_inbox as run

    return run(ctx)


def reconcile(ctx: ServiceContext) -> Any:
    from .delivery import reconcile as run

    return run(ctx)


JOBS = [Job("approvals.inbox", process_inbox, 60, "Process received OA callbacks"),
        Job("approvals.reconcile", reconcile, 300, "Ask OAs about approvals pending too long")]
