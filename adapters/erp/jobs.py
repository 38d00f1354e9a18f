"""The ERP adapter's scheduled job, declared without importing the sync engine, the adapters or the commands
(they load when the job runs): a web worker learns the job's name and interval without importing ``cli.py``."""
from __future__ import annotations

from crmcore.contracts import Job
from crmcore.runtime import ServiceContext


def sync(ctx: ServiceContext) -> None:
    """Pull every ERP connection and push pending changes."""
    from .runner import sync_job

    sync_job(ctx)


JOBS = [Job("erp.sync", sync, 900, "Pull every ERP connection and push pending changes")]
