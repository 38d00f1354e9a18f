"""The permissions the channel adapters check."""
from __future__ import annotations

from crmcore.contracts import Permission

PERMISSIONS = [
    Permission("channels.read", "See channel accounts, inbound messages and the unmatched queue",
               ("manager", "sales", "service")),
    Permission("channels.manage", "Configure channel accounts; link unmatched messages or turn them into leads",
               ("manager",)),
]
