"""/api/v1/reports: report definitions (list, create, get with ETag, PATCH with If-Match, delete), run a saved
or an unsaved definition, export as CSV or XLSX. Bodies are loaded by the service's one validation (422 per field)."""
from __future__ import annotations

from typing import Any

from flask import Response
from marshmallow import Schema, fields, validate

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, with_etag
from crmcore.schemas.common import PageArgs

from .services import definition, query, render, store

blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports", description="Reports")


class GroupOut(Schema):
    field = fields.Str()
    bucket = fields.Str(allow_none=True)


class MeasureOut(Schema):
    agg = fields.Str()
    field = fields.Str(allow_none=True)


class ReportOut(Schema):
    id = fields.Int()
    name = fields.Str()
    description = fields.Str(allow_none=True)
    entity = fields.Str()
    filters = fields.Dict(allow_none=True)
    group_by = fields.List(fields.Nested(GroupOut))
    measures = fields.List(fields.Nested(MeasureOut))
    sort = fields.Str()
    sort_desc = fields.Bool()
    row_limit = fields.Int()
    display = fields.Str()
    on_home = fields.Bool()
    schedule = fields.Str()
    schedule_weekday = fields.Int()
    schedule_day = fields.Int()
    schedule_time = fields.Str()
    shares = fields.Method("get_shares")
    version = fields.Int()

    def get_shares(self, report: Any) -> list[dict[str, Any]]:
        return store.shares_of(report)


class ReportPage(Schema):
    items = fields.List(fields.Nested(ReportOut))
    total = fields.Int()
    page = fields.Int()
    page_size = fields.Int()


class RunIn(definition.ReportSchema):
    """A definition to run without saving it: a name is not needed."""

    name = fields.Str(validate=validate.Length(max=120))


class ExportArgs(Schema):
    format = fields.Str(load_default="csv", validate=validate.OneOf(("csv", "xlsx")))


def blueprints() -> list[Any]:
    return [blp]


@blp.route("")
@blp.arguments(PageArgs, location="query")
@blp.response(200, ReportPage)
def list_reports(args: dict[str, Any]) -> Any:
    """The reports the caller may run (all of them for report managers), by name"""
    items = store.list_reports(current_ctx())
    start = (args["page"] - 1) * args["page_size"]
    return page(items[start:start + args["page_size"]], len(items), args)


@blp.route("", methods=["POST"])
@json_body(blp, definition.ReportSchema)
@blp.response(201, ReportOut)
def create_report(data: dict[str, Any]) -> Any:
    """Save a report definition (needs reports.manage)"""
    report = store.create_report(current_ctx(), data)
    return with_etag(report, report, 201)


@blp.route("/run", methods=["POST"])
@json_body(blp, RunIn)
def run_unsaved(data: dict[str, Any]) -> Any:
    """Run a definition being edited, nothing saved (needs reports.manage)"""
    ctx = current_ctx()
    ctx.require("reports.manage")
    values = definition.validate_report(ctx, {"name": "-", **data}, None)
    return query.run(ctx, definition.complete(values), str(data.get("name") or "")).as_dict()


@blp.route("/<int:report_id>")
@blp.response(200, ReportOut)
def get_report(report_id: int) -> Any:
    """Get a report definition; the ETag carries its version"""
    report = store.get_report(current_ctx(), report_id)
    return with_etag(report, report)


@blp.route("/<int:report_id>", methods=["PATCH"])
@json_body(blp, definition.ReportSchema(partial=True))
@blp.response(200, ReportOut)
def patch_report(data: dict[str, Any], report_id: int) -> Any:
    """Change a report; send If-Match with the ETag you read (412 if stale) or ``version`` (409)"""
    version, if_match = expected_version()
    report = store.update_report(current_ctx(), report_id, data, version, if_match)
    return with_etag(report, report)


@blp.route("/<int:report_id>", methods=["DELETE"])
@blp.response(204)
def delete_report(report_id: int) -> Any:
    """Delete a report"""
    store.delete_report(current_ctx(), report_id)
    return None


@blp.route("/<int:report_id>/run")
def run_report(report_id: int) -> Any:
    """Run a saved report over the records the caller may see: columns and rows (names, not ids), whether the
    row limit cut it, the currency money is in"""
    ctx = current_ctx()
    report = store.get_report(ctx, report_id)
    return query.run(ctx, definition.definition_of(report), report.name).as_dict()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORTED = {"200": {"description": "The table as a file", "content": {
    "text/csv": {"schema": {"type": "string"}}, XLSX: {"schema": {"type": "string", "format": "binary"}}}}}


@blp.route("/<int:report_id>/export")
@blp.arguments(ExportArgs, location="query")
@blp.doc(responses=EXPORTED)
def export_report(args: dict[str, Any], report_id: int) -> Any:
    """The report's table as CSV (UTF-8 with BOM) or XLSX"""
    ctx = current_ctx()
    report = store.get_report(ctx, report_id)
    result = query.run(ctx, definition.definition_of(report), report.name)
    filename = f"report-{report.id}.{args['format']}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if args["format"] == "xlsx":
        return Response(render.to_xlsx(result), headers=headers, content_type=XLSX)
    return Response(render.to_csv(result), headers=headers, content_type="text/csv; charset=utf-8")
