"""The reader's words for the sales records' status codes, for the services' messages (never the stored code)."""
from __future__ import annotations

from crmcore.i18n import lazy_gettext as _l

from ..models import ACTIVITY_STATUSES, LEAD_STATUSES, OPPORTUNITY_STATUSES, ORDER_STATUSES, QUOTE_STATUSES

# the same words as the admin's (plugins.sales.admin.records.CODE_LABELS)
STATUS_WORDS = {
    "new": _l("New"), "working": _l("Working"), "qualified": _l("Qualified"), "disqualified": _l("Disqualified"),
    "open": _l("Open"), "won": _l("Won"), "lost": _l("Lost"), "draft": _l("Draft"),
    "pending_approval": _l("Pending approval"), "approved": _l("Approved"), "rejected": _l("Rejected"),
    "sent": _l("Sent"), "accepted": _l("Accepted"), "declined": _l("Declined"), "ordered": _l("Ordered"),
    "cancelled": _l("Cancelled"), "confirmed": _l("Confirmed"), "delivered": _l("Delivered"),
    "planned": _l("Planned"), "done": _l("Done"),
}
assert set(STATUS_WORDS) == {*LEAD_STATUSES, *OPPORTUNITY_STATUSES, *QUOTE_STATUSES, *ORDER_STATUSES, *ACTIVITY_STATUSES}


def status_word(code: str) -> str:
    """The reader's word for a status code; an unknown code as it is."""
    word = STATUS_WORDS.get(code)
    return str(word) if word is not None else code
