"""/api/v1/sync: stream status, sync issues (list, retry, resolve), connections (secret write-only), runs."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import json_body, page
from crmcore.errors import NotFound
from crmcore.i18n import _
from crmcore.schemas.common import PageSize

from . import connections as conn_svc
from . import issues as issue_svc
from .schemas import ConnectionSchema

blp = Blueprint("erp_sync", __name__, url_prefix="/api/v1/sync",
                description="ERP sync: status, sync issues, connections, runs")


class IssueSchema(Schema):
    id = fields.Int()
    connection = fields.Str()
    stream = fields.Str()
    external_id = fields.Str(allow_none=True)
    entity_id = fields.Int(allow_none=True)
    kind = fields.Str()
    reason = fields.Str()
    payload = fields.Dict()
    status = fields.Str()
    attempts = fields.Int()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    resolved_at = fields.AwareDateTime(allow_none=True)


class IssuePage(Schema):
    items = fields.List(fields.Nested(IssueSchema))
    total = fields.Int()
    page = fields.Int()
    page_size = fields.Int()


class IssueArgs(Schema):
    status = fields.Str(load_default="open", validate=validate.OneOf(("open", "resolved", "ignored", "")))
    connection = fields.Str()
    stream = fields.Str()
    page = fields.Int(load_default=1, validate=validate.Range(min=1))
    page_size = PageSize(50)


class IssueStatusSchema(Schema):
    status = fields.Str(required=True, validate=validate.OneOf(("open", "resolved", "ignored")))


class RetryResult(Schema):
    id = fields.Int()
    fixed = fields.Bool()
    status = fields.Str()
    reason = fields.Str()


class RunArgs(Schema):
    connection = fields.Str()
    streams = fields.List(fields.Str())


@blp.route("/status")
def get_status() -> Any:
    """Per connection and stream: bookmark, last run with its counts, open issues; pending pushes"""
    from .runner import status

    return status(current_ctx())


@blp.route("/issues")
@blp.arguments(IssueArgs, location="query")
@blp.response(200, IssuePage)
def list_issues(args: dict[str, Any]) -> Any:
    """List sync issues (rejected records, conflicts, failed pushes, deletions), newest first"""
    items, total = issue_svc.list_issues(current_ctx(), status=args.get("status") or None,
                                         connection=args.get("connection"), stream=args.get("stream"),
                                         page=args["page"], page_size=args["page_size"])
    return page(items, total, args)


@blp.route("/issues/<int:issue_id>/retry", methods=["POST"])
@blp.response(200, RetryResult)
def retry_issue(issue_id: int) -> Any:
    """Apply a rejected record again from its stored payload"""
    from .models import SyncIssue
    from .sync import retry_issue as retry

    ctx = current_ctx()
    ctx.require("erp.sync.manage")
    if ctx.session.get(SyncIssue, issue_id) is None:
        raise NotFound(_("Sync issue %(id)s does not exist.", id=issue_id))
    fixed = retry(ctx, issue_id)
    issue = ctx.session.get(SyncIssue, issue_id)
    ctx.session.refresh(issue)
    return {"id": issue_id, "fixed": fixed, "status": issue.status, "reason": issue.reason}


@blp.route("/issues/<int:issue_id>", methods=["PATCH"])
@blp.arguments(IssueStatusSchema)
@blp.response(200, IssueSchema)
def set_issue_status(data: dict[str, Any], issue_id: int) -> Any:
    """Mark an issue resolved or ignored (a conflict a person settled), or open again"""
    return issue_svc.set_status(current_ctx(), issue_id, data["status"])


@blp.route("/connections")
@blp.response(200, ConnectionSchema(many=True))
def list_connections() -> Any:
    """List ERP connections (secrets are never returned)"""
    ctx = current_ctx()
    ctx.require("erp.sync.read")
    return conn_svc.list_connections(ctx)


@blp.route("/connections", methods=["POST"])
@json_body(blp, ConnectionSchema)
@blp.response(201, ConnectionSchema)
def create_connection(data: dict[str, Any]) -> Any:
    """Create an ERP connection"""
    return conn_svc.save_connection(current_ctx(), data)


@blp.route("/connections/<name>", methods=["PATCH"])
@json_body(blp, ConnectionSchema(partial=True))
@blp.response(200, ConnectionSchema)
def update_connection(data: dict[str, Any], name: str) -> Any:
    """Change an ERP connection; the secret changes only when sent"""
    return conn_svc.save_connection(current_ctx(), data, name)


@blp.route("/connections/<name>/test", methods=["POST"])
def test_connection(name: str) -> Any:
    """Try the connection now"""
    ok, message = conn_svc.test_connection(current_ctx(), name)
    return {"ok": ok, "message": message}


@blp.route("/run", methods=["POST"])
@blp.arguments(RunArgs)
def run(args: dict[str, Any]) -> Any:
    """Push pending changes and pull now (prefer the scheduled job for large ERPs: this waits for the run)"""
    from .runner import run_sync

    results = run_sync(current_ctx(), connection=args.get("connection"), streams=args.get("streams") or None)
    return {"results": [{"connection": r.connection, "streams": {k: v.as_dict() for k, v in r.streams.items()},
                         "errors": r.errors, "error": r.error} for r in results]}


def blueprints() -> list[Any]:
    return [blp]
