"""The permissions the social plugin checks, with the default roles that get each, and its audited entities."""
from __future__ import annotations

from crmcore.contracts import AuditEntity, Permission
from crmcore.i18n import _

PERMISSIONS = [
    Permission("social.read", _("See referrals, referral trees, social value and referral rewards"),
               ("manager", "sales", "analyst")),
    Permission("social.manage", _("Record referrals by hand, hand out reps' codes and set the referral programme"),
               ("manager",)),
]
AUDIT_ENTITIES = [AuditEntity(name, "social.read") for name in
                  ("referral_code", "referral", "referral_programme", "referral_reward")]
