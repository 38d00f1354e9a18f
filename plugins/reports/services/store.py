"""Saved reports: create, change, delete, share with roles or users, and who may see which."""
from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from crmcore.errors import Conflict, NotFound, PreconditionFailed, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Role, User
from crmcore.runtime import ServiceContext
from crmcore.services.unit import apply_changes, unit_of_work

from ..models import Report, ReportShare
from .definition import EDITABLE, validate_report

AUDITED = ("name", "description", "row_limit", "schedule_time")  # read as typed, no codes


def _audited(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes the audit log shows: what a person typed. The definition's parts (fields, measures, who it
    is shared with) are codes and ids; the report's version counts their changes."""
    return {k: v for k, v in changes.items() if k in AUDITED}


def create_report(ctx: ServiceContext, data: Any) -> Report:
    ctx.require("reports.manage")
    values = validate_report(ctx, data, None)
    shares = values.pop("shares", None)
    with unit_of_work(ctx):
        report = Report(owner_id=ctx.actor_id, group_by=[], measures=[])
        changes = apply_changes(report, values, EDITABLE)
        ctx.session.add(report)
        ctx.session.flush()
        record_change(ctx, "report", "created", report.id, _audited(changes))
        if shares is not None:
            _replace_shares(ctx, report, shares)
    return report


def update_report(ctx: ServiceContext, report_id: int, data: Any, expected_version: int | None = None,
                  if_match: bool = False) -> Report:
    """Change a report; a stale ``expected_version`` is a Conflict (PreconditionFailed for an If-Match)."""
    ctx.require("reports.manage")
    report = get_report(ctx, report_id)
    if expected_version is not None and expected_version != report.version:
        raise (PreconditionFailed if if_match else Conflict)(_("The record is at version %(current)s, not %(given)s; reload it and try again.",
                         current=report.version, given=expected_version))
    values = validate_report(ctx, data, report)
    shares = values.pop("shares", None)
    with unit_of_work(ctx):
        changes = apply_changes(report, values, EDITABLE)
        if changes:
            ctx.session.flush()
            record_change(ctx, "report", "updated", report.id, _audited(changes))
        if shares is not None:
            _replace_shares(ctx, report, shares)
    return report


def delete_report(ctx: ServiceContext, report_id: int) -> None:
    ctx.require("reports.manage")
    report = get_report(ctx, report_id)
    with unit_of_work(ctx):
        ctx.session.delete(report)
        record_change(ctx, "report", "deleted", report_id, {"name": [report.name, None]})


def _replace_shares(ctx: ServiceContext, report: Report, shares: list[Any]) -> None:
    """Who the report is shared with: ``[{"role": "sales"}, {"user": "wang"}, {"user_id": 7}, {"role_id": 2}]``."""
    errors: dict[str, list[Any]] = {}
    wanted: set[tuple[int | None, int | None]] = set()
    for i, share in enumerate(shares):
        keys = set(share) if isinstance(share, dict) else set()
        if len(keys) != 1 or not keys <= {"role", "role_id", "user", "user_id"}:
            errors.setdefault(f"shares.{i}", []).append(
                _("Use {\"role\": name}, {\"role_id\": id}, {\"user\": username} or {\"user_id\": id}."))
            continue
        key, value = next(iter(share.items()))
        if key in ("role", "role_id"):
            role = (ctx.session.scalar(select(Role).where(Role.name == value)) if key == "role" and isinstance(value, str)
                    else ctx.session.get(Role, value) if isinstance(value, int) and not isinstance(value, bool) else None)
            if role is None:
                errors.setdefault(f"shares.{i}", []).append(_("No such role."))
            else:
                wanted.add((role.id, None))
        else:
            user = (ctx.session.scalar(select(User).where(User.username == value)) if key == "user" and isinstance(value, str)
                    else ctx.session.get(User, value) if isinstance(value, int) and not isinstance(value, bool) else None)
            if user is None:
                errors.setdefault(f"shares.{i}", []).append(_("No such user."))
            else:
                wanted.add((None, user.id))
    if errors:
        raise ValidationError(_("The report is not valid."), errors=errors)
    before = sorted((s.role_id or 0, s.user_id or 0) for s in report.shares)
    report.shares = [ReportShare(role_id=r, user_id=u) for r, u in sorted(wanted, key=lambda x: (x[0] or 0, x[1] or 0))]
    ctx.session.flush()
    after = sorted((s.role_id or 0, s.user_id or 0) for s in report.shares)
    if before != after:
        record_change(ctx, "report", "updated", report.id, {})


def shares_of(report: Report) -> list[dict[str, Any]]:
    """Who a report is shared with, by name: ``[{"role": "sales"}, {"user": "wang"}]``."""
    from sqlalchemy.orm import object_session

    session = object_session(report)
    out: list[dict[str, Any]] = []
    for share in report.shares:
        if share.role_id is not None and session is not None:
            role = session.get(Role, share.role_id)
            out.append({"role": role.name if role else share.role_id})
        elif share.user_id is not None and session is not None:
            user = session.get(User, share.user_id)
            out.append({"user": user.username if user else share.user_id})
    return out


def _shared_with(ctx: ServiceContext) -> Any:
    """SQL condition: the report is the actor's own or shared with them (directly or through their role)."""
    actor = ctx.actor
    assert actor is not None
    conds = [ReportShare.user_id == actor.id]
    if actor.role_id is not None:
        conds.append(ReportShare.role_id == actor.role_id)
    return or_(Report.owner_id == actor.id, Report.id.in_(select(ReportShare.report_id).where(or_(*conds))))


def visible(ctx: ServiceContext) -> Any:
    """The SELECT of the reports the actor may run: all for report managers, else their own and those shared."""
    stmt = select(Report).order_by(Report.name, Report.id)
    if ctx.actor is not None and not ctx.can("reports.manage"):
        stmt = stmt.where(_shared_with(ctx))
    return stmt


def list_reports(ctx: ServiceContext) -> list[Report]:
    ctx.require("reports.read")
    return list(ctx.session.scalars(visible(ctx)))


def get_report(ctx: ServiceContext, report_id: int) -> Report:
    """A report the actor may see; one not shared with them is 404, as if it did not exist."""
    ctx.require("reports.read")
    report = ctx.session.scalar(visible(ctx).where(Report.id == report_id))
    if report is None:
        raise NotFound(_("Report %(id)s does not exist.", id=report_id))
    return report


def find_report(ctx: ServiceContext, name: str) -> Report:
    """A report the actor may see, by name (the CLI's ``crm report run NAME``)."""
    ctx.require("reports.read")
    report = ctx.session.scalar(visible(ctx).where(Report.name == name))
    if report is None:
        raise NotFound(_("There is no report named '%(name)s'.", name=name))
    return report
