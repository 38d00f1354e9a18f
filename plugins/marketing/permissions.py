"""The permissions the marketing plugin checks, with the default roles that get each."""
from __future__ import annotations

from crmcore.contracts import Permission
from crmcore.i18n import _

PERMISSIONS = [
    Permission("marketing.read", _("See audiences, templates, campaigns and their results"), ("manager", "analyst")),
    Permission("marketing.manage", _("Define audiences, templates and campaigns"), ("manager",)),
    Permission("marketing.send", _("Start, pause and resume campaign sends"), ("manager",)),
    Permission("marketing.consent.write", _("Record a customer's consent or its withdrawal"),
               ("manager", "sales", "service")),
]
