"""The permissions the member events plugin checks, with the default roles that get each."""
from __future__ import annotations

from crmcore.contracts import Permission
from crmcore.i18n import _

PERMISSIONS = [
    Permission("member_events.read", _("See member events, their invitations and answers"),
               ("manager", "sales", "service", "analyst")),
    Permission("member_events.manage", _("Set up member events and invite audiences"), ("manager",)),
    Permission("member_events.checkin", _("Check guests in at a member event"), ("manager", "sales", "service")),
]
