"""/api/v1/jobs: runs of background jobs with their progress; queue one, cancel one (job.manage, admins)."""
from __future__ import annotations

from typing import Any

from .blueprint import Blueprint

from .http import current_ctx, page
from ..schemas.jobs import EnqueueSchema, JobRunListArgs, JobRunPage, JobRunSchema
from ..services import job_runs as runs

blp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs", description="Background jobs: runs, progress, cancel")


@blp.route("")
@blp.arguments(JobRunListArgs, location="query")
@blp.response(200, JobRunPage)
def list_runs(args: dict[str, Any]) -> Any:
    """Runs of background jobs, newest first, with their progress (needs job.manage)"""
    items, total = runs.page_runs(current_ctx(), status=args.get("status"), name=args.get("name"),
                                  page=args["page"], page_size=args["page_size"])
    return page(items, total, args)


@blp.route("", methods=["POST"])
@blp.arguments(EnqueueSchema)
@blp.response(202, JobRunSchema)
def enqueue(data: dict[str, Any]) -> Any:
    """Queue one run of a registered job for the workers (needs job.manage)"""
    ctx = current_ctx()
    ctx.require("job.manage")
    return runs.enqueue(ctx, data["name"])


@blp.route("/<int:run_id>")
@blp.response(200, JobRunSchema)
def get_run(run_id: int) -> Any:
    """One run with its progress and outcome (needs job.manage)"""
    return runs.get_run(current_ctx(), run_id)


@blp.route("/<int:run_id>/cancel", methods=["POST"])
@blp.response(200, JobRunSchema)
def cancel(run_id: int) -> Any:
    """Cancel a run: a queued one never starts, a running one stops at its next progress report (409 once ended)"""
    return runs.cancel(current_ctx(), run_id)
