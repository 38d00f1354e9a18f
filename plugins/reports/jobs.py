"""The reports plugin's scheduled job, declared without importing its services or its commands (they load when
the job runs): a web worker learns the job's name and interval without importing ``cli.py``."""
from __future__ import annotations

from typing import Any

from crmcore.contracts import Job
from crmcore.runtime import ServiceContext


def send_reports(ctx: ServiceContext) -> Any:
    """E-mail the scheduled reports that are due."""
    from .services.schedule import send_due

    return send_due(ctx)


JOBS = [Job("reports.send", send_reports, 300, "E-mail the scheduled reports that are due")]
