"""The channels adapter's scheduled jobs, declared without importing the WeCom client, the inbox or the
commands (``wecom_pull`` loads when a job runs): a web worker learns the jobs' names and intervals cheaply."""
from __future__ import annotations

from crmcore.contracts import Job
from crmcore.runtime import ServiceContext


def wecom_contacts(ctx: ServiceContext) -> dict[str, int]:
    """Pull every external contact of the staff with customer contact (the WeCom channel account)."""
    from .wecom_pull import wecom_contacts as run

    return run(ctx)


def wecom_group_results(ctx: ServiceContext) -> dict[str, int]:
    """The results of the open WeCom group sends, stored as receipts (and marked on marketing's recipients)."""
    from .wecom_pull import wecom_group_results as run

    return run(ctx)


JOBS = [Job("channels.wecom_contacts", wecom_contacts, 6 * 3600, "Pull WeCom external contacts into customers"),
        Job("channels.wecom_group_results", wecom_group_results, 1800, "Fetch the results of WeCom group sends")]
