"""The admin's job page: runs of background jobs with their progress, and a cancel button (CSRF)."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_admin.helpers import get_redirect_target
from markupsafe import Markup

from ..errors import CRMError
from ..i18n import gettext, lazy_gettext as _l, local_time
from ..models import JobExecution
from ..schemas.common import db_id
from ..services import job_runs as jobs
from . import forms
from .views import SecureModelView, flash_crm_error, row_post_button

BADGES = {"queued": "secondary", "running": "info", "ok": "success", "failed": "danger", "cancelled": "warning"}


def _status(run: JobExecution) -> Markup:
    badge = Markup('<span class="badge badge-{}">{}</span>').format(BADGES.get(run.status, "secondary"),
                                                                    jobs.status_label(run.status).capitalize())
    if run.cancel_requested and run.status in ("queued", "running"):
        badge += Markup(' <span class="badge badge-warning">{}</span>').format(gettext("cancel requested"))
    return badge


def _progress(run: JobExecution) -> Markup | str:
    if not run.progress_total:
        return str(run.progress_done) if run.progress_done else ""
    pct = max(0, min(100, round(100 * run.progress_done / run.progress_total)))
    return Markup('<div class="progress" style="min-width:8em" title="{done}/{total}"><div class="progress-bar" '
                  'role="progressbar" style="width:{pct}%" aria-valuenow="{pct}" aria-valuemin="0" aria-valuemax="100">'
                  '{done}/{total}</div></div>').format(done=run.progress_done, total=run.progress_total, pct=pct)


def _job_label(view: Any, run: JobExecution) -> str:
    """A job by what it does in the reader's language (its registered description through the catalogue)."""
    job = view.ctx().registry.jobs.get(run.name)
    return gettext(str(job.description)) if job is not None and job.description else run.name


def _cancel_button(run: JobExecution) -> Markup:
    if run.status not in ("queued", "running") or run.cancel_requested:
        return Markup("")
    return row_post_button("job_run.cancel_view", run.id, gettext("Cancel"), "danger")


class JobRunView(SecureModelView):
    """Runs of background jobs, newest first: status, progress, who ran them, the error; cancel one."""

    permission = "job.manage"
    can_view_details = True
    column_list = ("id", "name", "status", "progress", "attempts", "worker", "started_at", "finished_at", "error", "cancel")
    column_details_list = ("id", "name", "status", "progress", "params", "backend", "attempts", "worker",
                           "scheduled_for", "created_at", "started_at", "heartbeat_at", "finished_at", "error")
    column_labels = {"id": _l("Run"), "name": _l("Job"), "status": _l("Status"), "progress": _l("Progress"),
                     "attempts": _l("Attempts"), "worker": _l("Worker"), "started_at": _l("Started"),
                     "finished_at": _l("Finished"), "error": _l("Error"), "params": _l("Parameters"),
                     "backend": _l("Backend"), "scheduled_for": _l("Scheduled for"), "created_at": _l("Queued"),
                     "heartbeat_at": _l("Last report"), "cancel": ""}
    column_default_sort = ("id", True)
    column_filters = (FilterEqual(JobExecution.status, _l("Status"), options=list(jobs.STATUS_LABELS.items())),
                      FilterEqual(JobExecution.name, _l("Job")))
    column_formatters = {
        "name": lambda v, c, m, n: _job_label(v, m),
        "status": lambda v, c, m, n: _status(m),
        "progress": lambda v, c, m, n: _progress(m),
        "started_at": lambda v, c, m, n: local_time(m.started_at, seconds=True) if m.started_at else "",
        "finished_at": lambda v, c, m, n: local_time(m.finished_at, seconds=True) if m.finished_at else "",
        "scheduled_for": lambda v, c, m, n: local_time(m.scheduled_for, seconds=True) if m.scheduled_for else "",
        "created_at": lambda v, c, m, n: local_time(m.created_at, seconds=True),
        "heartbeat_at": lambda v, c, m, n: local_time(m.heartbeat_at, seconds=True) if m.heartbeat_at else "",
        "error": lambda v, c, m, n: (m.error or "")[:120],
        "cancel": lambda v, c, m, n: _cancel_button(m),
    }
    page_size = 50

    @expose("/cancel/", methods=("POST",))
    def cancel_view(self) -> Any:
        form = forms.ConfirmForm()
        run_id = request.form.get("target", type=db_id)
        if not form.validate() or run_id is None:
            abort(400)
        try:
            run = jobs.cancel(self.ctx(), run_id)
            flash(gettext("Run %(id)s is cancelled.", id=run.id) if run.status == "cancelled" else
                  gettext("Run %(id)s will stop at its next progress report.", id=run.id), "success")
        except CRMError as exc:
            flash_crm_error(exc)
        return redirect(get_redirect_target() or self.get_url(".index_view"))
