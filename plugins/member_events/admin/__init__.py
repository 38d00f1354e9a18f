"""Admin views of member events: the events (with their invitations and answers) and the staff's check-in page."""
from __future__ import annotations

from typing import Any

from crmcore.i18n import lazy_gettext as _l

EVENTS = _l("Member events")


def admin_views(db: Any) -> list[Any]:
    from ..models import Invitation, MemberEvent
    from .views import CheckInView, InvitationView, MemberEventView

    return [
        MemberEventView(MemberEvent, db, name=_l("Events"), endpoint="member_event", url="/admin/member-events/event",
                        category=EVENTS),
        InvitationView(Invitation, db, name=_l("Invitations and answers"), endpoint="member_event_invitation",
                       url="/admin/member-events/invitation", category=EVENTS),
        CheckInView(name=_l("Check-in"), endpoint="member_event_checkin", url="/admin/member-events/checkin",
                    category=EVENTS),
    ]
