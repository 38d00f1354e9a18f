"""A web worker learns the plugins' jobs from their light ``jobs.py``: it imports no plugin's or adapter's ``cli.py``
(click commands and the services they import), yet its registry lists every job as ``crm jobs`` does."""
from __future__ import annotations

from pathlib import Path

from test_wsgi_api import PRELUDE, run_process

SCRIPT = PRELUDE + r'''
from crmcore.app import create_app

app = create_app(admin=False)
print(" ".join(sorted(n for n in sys.modules if n.startswith(("plugins.", "adapters.")) and n.split(".")[-1] == "cli")))
for job in app.extensions["crm"].registry.jobs.values():
    print(f"{job.name}|{job.interval}|{job.func.__module__}|{job.description}")
'''

# every job the shipped plugins and adapters declare: name -> (interval in seconds, description)
SHIPPED_JOBS = {
    "sales.kpis": (24 * 3600, "Recompute this and last month's sales KPI snapshots"),
    "service.sla_check": (300, "Detect SLA breaches and escalate overdue tickets"),
    "social.recompute": (6 * 3600, "Recompute every customer's social value"),
    "social.rewards": (3600, "Pay the referral rewards whose return window is over"),
    "marketing.send": (300, "Send the running campaigns' messages in batches"),
    "marketing.journeys": (300, "Enter customers into the running journeys and move them on"),
    "reports.send": (300, "E-mail the scheduled reports that are due"),
    "analysis.nightly": (24 * 3600, "Recompute RFM segments, basket rules, CLV and churn scores"),
    "analysis.forecast": (24 * 3600, "Forecast revenue and orders and weigh the pipeline"),
    "analysis.tags": (6 * 3600, "Refresh customer tags from the tag rules"),
    "channels.wecom_contacts": (6 * 3600, "Pull WeCom external contacts into customers"),
    "channels.wecom_group_results": (1800, "Fetch the results of WeCom group sends"),
    "erp.sync": (900, "Pull every ERP connection and push pending changes"),
    "approvals.inbox": (60, "Process received OA callbacks"),
    "approvals.reconcile": (300, "Ask OAs about approvals pending too long"),
}


def test_the_web_app_lists_every_job_without_importing_a_cli_module(tmp_path: Path) -> None:
    cli_modules, *lines = run_process(tmp_path, SCRIPT)
    assert cli_modules == ""  # not one plugins.*.cli / adapters.*.cli module
    jobs = {name: (int(interval), module, description)
            for name, interval, module, description in (line.split("|", 3) for line in lines)}
    for name, (interval, description) in SHIPPED_JOBS.items():
        assert jobs[name][0::2] == (interval, description), name
        assert jobs[name][1].rsplit(".", 1)[1] == "jobs", name  # the function runs from the light module
