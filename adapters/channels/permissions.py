"""The permissions the channel adapters check."""
from __future__ import annotations

from crmcore.contracts import Permission
from crmcore.i18n import _

PERMISSIONS = [
    Permission("channels.read", _("See inbound messages and the unmatched queue"),
               ("manager", "sales", "service")),
    Permission("channels.manage", _("Configure channel accounts; link unmatched messages or make leads of them"),
               ("manager",)),
]
