"""Schemas of /api/v1/jobs: runs of background jobs with their progress and outcome."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from .common import PageArgs, page_of

RUN_STATUSES = ("queued", "running", "ok", "failed", "cancelled")


class JobRunSchema(Schema):
    id = fields.Int(dump_only=True)
    name = fields.Str(dump_only=True, metadata={"description": "The job's registered name"})
    description = fields.Method("_description", dump_only=True, allow_none=True)
    status = fields.Str(dump_only=True, validate=validate.OneOf(RUN_STATUSES))
    status_label = fields.Method("_status_label", dump_only=True)
    backend = fields.Str(dump_only=True)
    progress_done = fields.Int(dump_only=True)
    progress_total = fields.Int(dump_only=True, allow_none=True)
    cancel_requested = fields.Bool(dump_only=True)
    attempts = fields.Int(dump_only=True)
    worker = fields.Str(dump_only=True, allow_none=True)
    error = fields.Str(dump_only=True, allow_none=True)
    scheduled_for = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    started_at = fields.DateTime(dump_only=True, allow_none=True)
    finished_at = fields.DateTime(dump_only=True, allow_none=True)

    def _status_label(self, run: Any) -> str:
        from ..services.job_runs import status_label

        return status_label(run.status)

    def _description(self, run: Any) -> str | None:
        from flask import current_app, has_app_context

        job = current_app.extensions["crm"].registry.jobs.get(run.name) if has_app_context() else None
        return getattr(job, "description", None) or None


class JobRunListArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf(RUN_STATUSES))
    name = fields.Str(validate=validate.Length(max=120))


class EnqueueSchema(Schema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=120))


JobRunPage = page_of(JobRunSchema, "JobRunPage")
