"""Sync issues: records the sync rejected and conflicts it found, kept with the reason until fixed."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from crmcore.db import utcnow
from crmcore.runtime import ServiceContext

from .models import SyncIssue


def open_issue(ctx: ServiceContext, connection: str, stream: str, external_id: str | None, kind: str, reason: str,
               payload: dict[str, Any], entity_id: int | None = None) -> SyncIssue:
    """Open an issue, or count another attempt on the open one of the same record and kind."""
    issue = ctx.session.scalar(select(SyncIssue).where(
        SyncIssue.connection == connection, SyncIssue.stream == stream, SyncIssue.external_id == external_id,
        SyncIssue.kind == kind, SyncIssue.status == "open"))
    if issue is None:
        issue = SyncIssue(connection=connection, stream=stream, external_id=external_id, kind=kind, attempts=0)
        ctx.session.add(issue)
    issue.attempts = (issue.attempts or 0) + 1
    issue.reason, issue.payload, issue.entity_id = reason[:4000], payload, entity_id
    return issue


def resolve_issues(ctx: ServiceContext, connection: str, stream: str, external_id: str | None | list[str],
                   kind: str = "rejected") -> int:
    """Close the open issues of a record that is now stored (or of a list of them, in one statement)."""
    if isinstance(external_id, list):
        if not external_id:
            return 0
        which = SyncIssue.external_id.in_(external_id)
    else:
        which = SyncIssue.external_id == external_id
    result = ctx.session.execute(update(SyncIssue).where(
        SyncIssue.connection == connection, SyncIssue.stream == stream, which,
        SyncIssue.kind == kind, SyncIssue.status == "open").values(status="resolved", resolved_at=utcnow()))
    return result.rowcount or 0


def list_issues(ctx: ServiceContext, *, status: str | None = "open", connection: str | None = None, stream: str | None = None,
                page: int = 1, page_size: int = 50) -> tuple[list[SyncIssue], int]:
    ctx.require("erp.sync.read")
    stmt = select(SyncIssue)
    if status:
        stmt = stmt.where(SyncIssue.status == status)
    if connection:
        stmt = stmt.where(SyncIssue.connection == connection)
    if stream:
        stmt = stmt.where(SyncIssue.stream == stream)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(SyncIssue.id.desc()).offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)


def set_status(ctx: ServiceContext, issue_id: int, status: str) -> SyncIssue:
    """Mark an issue resolved or ignored by hand (conflicts are settled by a person)."""
    from crmcore.errors import NotFound, ValidationError
    from crmcore.i18n import _

    ctx.require("erp.sync.manage")
    if status not in ("open", "resolved", "ignored"):
        raise ValidationError(_("Status must be open, resolved or ignored."))
    issue = ctx.session.get(SyncIssue, issue_id)
    if issue is None:
        raise NotFound(_("Sync issue %(id)s does not exist.", id=issue_id))
    issue.status = status
    issue.resolved_at = utcnow() if status != "open" else None
    ctx.session.commit()
    return issue
