"""Admin pages of approvals: the approver's inbox (decide here) and the approvals monitor (stuck
approvals, deliveries to providers, with replay)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select

from ..db import utcnow
from ..errors import CRMError
from ..i18n import gettext
from ..models import ApprovalRequest, OutboxMessage
from ..services import approval_inbox as inbox_svc
from ..services import approvals as approval_svc
from ..services import outbox as outbox_svc
from .auth import safe_next
from .views import SecureView, flash_crm_error, service_context


def age(created_at: dt.datetime) -> str:
    """How long ago, in the reader's words (``3 hours``)."""
    from flask_babel import format_timedelta

    return str(format_timedelta(utcnow() - created_at, threshold=0.9))


def record_url(item: inbox_svc.InboxItem | inbox_svc.RequestRow) -> str | None:
    """The record's page in the admin, when its entity names its admin view."""
    if not item.admin_endpoint:
        return None
    return url_for(f"{item.admin_endpoint}.details_view", id=item.request.entity_id)


def template_globals() -> dict[str, Any]:
    """``crm_pending_approvals()`` (the menu's badge) and ``crm_pending_decision(record)`` (the actor's
    open request on a record's page), computed only where a page calls them."""

    def pending_approvals() -> int:
        return inbox_svc.pending_count(service_context())

    def pending_decision(record: Any) -> ApprovalRequest | None:
        found = inbox_svc.task_for(service_context(), record)
        return found[0] if found is not None else None

    return {"crm_pending_approvals": pending_approvals, "crm_pending_decision": pending_decision}


class ApprovalsView(SecureView):
    """The approver's inbox (decide here) and, for approval managers, the monitor with replay."""

    permission = "approval.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        mine, _total = approval_svc.list_requests(ctx, page_size=20)
        return self.render("admin/workflow/approvals.html", inbox=inbox_svc.items(ctx),
                           mine=inbox_svc.request_rows(ctx, mine), age=age,
                           record_url=record_url,
                           can_decide=ctx.can("approval.decide"), can_manage=ctx.can("approval.manage"))

    def _act(self, action: Any, done: str) -> Any:
        """Run one decision service call; flash ``done`` or the error; back to ``next`` (the record's
        page it was decided from, a local path) or to the inbox."""
        ctx = self.ctx()
        try:
            action(ctx)
            flash(done, "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return redirect(safe_next(request.form.get("next")) or url_for(".index"))

    @expose("/<int:request_id>/decide", methods=["POST"])
    def decide(self, request_id: int) -> Any:
        approve = request.form.get("decision") == "approve"
        return self._act(lambda ctx: approval_svc.decide(ctx, request_id, approve, request.form.get("comment")),
                         gettext("Approved.") if approve else gettext("Rejected."))

    @expose("/<int:request_id>/withdraw", methods=["POST"])
    def withdraw(self, request_id: int) -> Any:
        return self._act(lambda ctx: approval_svc.withdraw(ctx, request_id, request.form.get("comment")),
                         gettext("Withdrawn."))

    @expose("/<int:request_id>/revoke", methods=["POST"])
    def revoke(self, request_id: int) -> Any:
        return self._act(lambda ctx: approval_svc.revoke(ctx, request_id, request.form.get("comment")),
                         gettext("Revoked; the compensating action ran."))

    @expose("/monitor")
    def monitor(self) -> Any:
        ctx = self.ctx()
        if not ctx.can("approval.manage"):
            return self.forbidden()
        stuck_after = approval_svc.pending_too_long(ctx)
        pending = list(ctx.session.scalars(select(ApprovalRequest).where(ApprovalRequest.status.in_(("submitting", "pending")))
                                          .order_by(ApprovalRequest.created_at)))
        now = utcnow()
        stuck = [r for r in pending if (now - r.updated_at).total_seconds() >= stuck_after]
        deliveries = list(ctx.session.scalars(select(OutboxMessage).where(
            OutboxMessage.topic.in_(approval_svc.PROVIDER_TOPICS), OutboxMessage.status != "delivered")
            .order_by(OutboxMessage.id.desc()).limit(50)))
        return self.render("admin/workflow/monitor.html", pending=inbox_svc.request_rows(ctx, pending),
                           stuck={r.id for r in stuck},
                           deliveries=deliveries)

    @expose("/monitor/outbox/<int:message_id>/replay", methods=["POST"])
    def replay_delivery(self, message_id: int) -> Any:
        ctx = self.ctx()
        try:
            ctx.require("approval.manage")
            outbox_svc.replay(ctx.runtime.context(actor=None, source="admin", session=ctx.session), message_id)
            flash(gettext("The delivery is queued again."), "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return redirect(url_for(".monitor"))
