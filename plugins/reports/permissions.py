"""The permissions the reports plugin checks, with the default roles that get each."""
from __future__ import annotations

from crmcore.contracts import Permission
from crmcore.i18n import _

PERMISSIONS = [
    Permission("reports.read", _("Run the reports shared with you"), ("manager", "analyst", "sales", "service")),
    Permission("reports.manage", _("Build, share and schedule reports"), ("manager",)),
]
