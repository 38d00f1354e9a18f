"""Admin pages of the ERP sync: connections (secret write-only, "test connection"), stream status with
bookmarks and last runs, and sync issues with retry."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import flash, redirect, request, send_from_directory, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_admin.helpers import get_form_data
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from crmcore.admin.views import SecureModelView, SecureView, badge, flash_crm_error
from crmcore.errors import CRMError, ValidationError
from crmcore.i18n import gettext, lazy_gettext as _l
from crmcore.runtime import ServiceContext

from . import connection_form as cform
from . import connections as conn_svc
from . import issues as issue_svc
from .models import ErpConnection, SyncIssue

ERP = _l("ERP sync")
STATIC = Path(__file__).parent / "static"


def adapter_choices(ctx: ServiceContext) -> list[tuple[str, str]]:
    """The registered adapters as (code, name in the reader's words), by name."""
    return sorted(((code, gettext(cls.label) if cls.label else code) for code, cls in conn_svc.erp_adapters(ctx).items()),
                  key=lambda c: c[1].lower())


def adapter_label(ctx: ServiceContext, code: str | None) -> str:
    """An adapter's name in the reader's words; one no plugin registers shows as stored."""
    return dict(adapter_choices(ctx)).get(code or "", code or "")


ISSUE_STATUS_LABELS = {"open": _l("Unresolved"), "resolved": _l("Resolved"), "ignored": _l("Ignored")}
ISSUE_KIND_LABELS = {"rejected": _l("Refused record"), "conflict": _l("Conflict"), "push_failed": _l("Push failed"),
                     "deleted": _l("Deleted in the ERP"), "invalid": _l("Invalid value"),
                     "unlinked": _l("Waiting for a linked record")}


class ConnectionView(SecureModelView):
    permission = "erp.sync.read"
    write_permission = "erp.sync.manage"
    form = cform.ConnectionForm
    column_list = ("name", "adapter", "enabled", "push_enabled", "last_test_at", "last_test_result", "test")
    column_labels = {"name": _l("Name"), "adapter": _l("Adapter"), "enabled": _l("Enabled"),
                     "push_enabled": _l("Push CRM changes"), "last_test_at": _l("Last test"),
                     "last_test_result": _l("Result"), "test": ""}
    column_formatters = {"test": lambda v, c, m, p: v._test_button(m),
                         "adapter": lambda v, c, m, p: adapter_label(v.ctx(), m.adapter),
                         "settings": lambda v, c, m, p: cform.settings_words(conn_svc.erp_adapters(v.ctx()), m),
                         "ownership": lambda v, c, m, p: cform.ownership_words(m),
                         "streams": lambda v, c, m, p: cform.streams_words(m)}
    column_details_exclude_list = ("secret",)
    column_export_exclude_list = ("secret",)
    can_view_details = True

    create_template = "admin/erp/connection_create.html"
    edit_template = "admin/erp/connection_edit.html"

    def _form(self, obj: Any) -> Any:
        """The form for the adapters registered now, with what the template shows in order (``form.erp``)."""
        ctx = self.ctx()
        adapters = conn_svc.erp_adapters(ctx)
        form = cform.form_class(adapters)(get_form_data(), obj=None)
        choices = adapter_choices(ctx)
        form.adapter.choices = choices
        if obj is not None and request.method == "GET":
            form.name.data, form.adapter.data = obj.name, obj.adapter
            for key in ("overlap_seconds", "timeout_seconds", "page_size", "push_enabled", "enabled"):
                form[key].data = getattr(obj, key)
            cform.fill(form, obj, adapters)
        form.erp = cform.layout(ctx, form, adapters, dict(choices))
        return form

    def create_form(self, obj: Any = None) -> Any:
        return self._form(None)

    def edit_form(self, obj: Any = None) -> Any:
        return self._form(obj)

    @expose("/connection-form.js")
    def script(self) -> Any:
        """The script showing the chosen adapter's settings only (served by the app, no CDN)."""
        return send_from_directory(STATIC, "connection-form.js", mimetype="text/javascript", max_age=3600)

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return cform.to_data(form, conn_svc.erp_adapters(self.ctx()), model)

    def _write(self, form: Any, model: Any, call: Any, *, created: bool) -> Any:
        def named_by_form(ctx: ServiceContext, data: dict[str, Any]) -> Any:
            try:
                return call(ctx, data)
            except ValidationError as exc:  # each error beside its input
                raise cform.on_fields(exc, form) from None
        return super()._write(form, model, named_by_form, created=created)

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return conn_svc.save_connection(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return conn_svc.save_connection(ctx, data, model.name)

    def _test_button(self, model: Any) -> Markup:
        if not self.can_write():
            return Markup("")
        return Markup('<form method="post" action="{}" class="mb-0"><input type="hidden" name="csrf_token" value="{}">'
                      '<button class="btn btn-sm btn-outline-primary" type="submit">{}</button></form>').format(
            url_for(".test_view", conn_id=model.id), generate_csrf(), gettext("Test connection"))

    @expose("/test/<int:conn_id>", methods=["POST"])
    def test_view(self, conn_id: int) -> Any:
        ctx = self.ctx()
        conn = ctx.session.get(ErpConnection, conn_id)
        if conn is not None:
            try:
                ok, message = conn_svc.test_connection(ctx, conn.name)
                flash(gettext("%(name)s: %(result)s", name=conn.name, result=message), "success" if ok else "error")
            except CRMError as exc:
                flash_crm_error(exc)
        return redirect(url_for(".index_view"))

    @action("test", _l("Test connection"))
    def action_test(self, ids: list[str]) -> None:
        ctx = self.ctx()
        for conn in ctx.session.query(ErpConnection).filter(ErpConnection.id.in_([int(i) for i in ids])):
            try:
                ok, message = conn_svc.test_connection(ctx, conn.name)
            except CRMError as exc:
                flash_crm_error(exc)
                continue
            flash(gettext("%(name)s: %(result)s", name=conn.name, result=message), "success" if ok else "error")


class IssueView(SecureModelView):
    permission = "erp.sync.read"
    write_permission = "erp.sync.manage"
    column_list = ("id", "connection", "stream", "external_id", "kind", "status", "attempts", "reason", "updated_at")
    column_labels = {"connection": _l("Connection"), "stream": _l("Stream"), "external_id": _l("ERP id"),
                     "kind": _l("Kind"), "status": _l("Status"), "attempts": _l("Attempts"), "reason": _l("Reason"),
                     "updated_at": _l("Updated")}
    # choices in words (the stored codes were typed into text filters)
    column_filters = (FilterEqual(SyncIssue.status, _l("Status"), options=list(ISSUE_STATUS_LABELS.items())),
                      FilterEqual(SyncIssue.kind, _l("Kind"), options=list(ISSUE_KIND_LABELS.items())), "connection",
                      FilterEqual(SyncIssue.stream, _l("Stream"),
                                  options=[*cform.STREAM_LABELS.items(), ("push", _l("Push to the ERP"))]))
    column_default_sort = ("id", True)
    can_view_details = True
    column_formatters = {"status": lambda v, c, m, p: badge(ISSUE_STATUS_LABELS.get(m.status, m.status),
                                                            {"open": "warning", "resolved": "success"}.get(m.status, "secondary")),
                         "kind": lambda v, c, m, p: ISSUE_KIND_LABELS.get(m.kind, m.kind),
                         "stream": lambda v, c, m, p: cform.stream_label(m.stream)}

    @action("retry", _l("Retry"))
    def action_retry(self, ids: list[str]) -> None:
        from .sync import retry_issue

        ctx = self.ctx()
        fixed = 0
        try:
            ctx.require("erp.sync.manage")
            for i in ids:
                fixed += bool(retry_issue(ctx, int(i)))
        except CRMError as exc:
            flash_crm_error(exc)
            return
        flash(gettext("%(fixed)s of %(total)s records are now stored.", fixed=fixed, total=len(ids)))

    @action("resolve", _l("Mark resolved"))
    def action_resolve(self, ids: list[str]) -> None:
        self._set(ids, "resolved")

    @action("ignore", _l("Ignore"))
    def action_ignore(self, ids: list[str]) -> None:
        self._set(ids, "ignored")

    def _set(self, ids: list[str], status: str) -> None:
        try:
            for i in ids:
                issue_svc.set_status(self.ctx(), int(i), status)
        except CRMError as exc:
            flash_crm_error(exc)


class StatusView(SecureView):
    """Stream status: bookmarks, last runs and their counts, open issues; run the sync now."""

    permission = "erp.sync.read"

    @expose("/")
    def index(self) -> Any:
        from .runner import status

        ctx = self.ctx()
        return self.render("admin/erp/status.html", data=status(ctx), can_run=ctx.can("erp.sync.manage"),
                           adapters=dict(adapter_choices(ctx)), stream_label=cform.stream_label)

    @expose("/run", methods=["POST"])
    def run(self) -> Any:
        from .runner import run_sync

        ctx = self.ctx()
        try:
            for result in run_sync(ctx, connection=request.form.get("connection") or None):
                t = result.total
                flash(gettext("%(conn)s: read %(read)s, created %(created)s, updated %(updated)s, failed %(failed)s",
                              conn=result.connection, read=t.read, created=t.created, updated=t.updated,
                              failed=t.failed), "error" if result.errors or result.error else "success")
                if result.error:  # the connection itself failed: one reason, not one per skipped stream
                    flash(f"{result.connection}: {result.error}", "error")
                    continue
                for stream, error in result.errors.items():
                    flash(f"{stream}: {error}", "error")
        except CRMError as exc:
            flash_crm_error(exc)
        return redirect(url_for(".index"))


def admin_views(db: Any) -> list[Any]:
    return [
        StatusView(name=_l("Stream status"), endpoint="erp_status", url="/admin/erp/status", category=ERP),
        ConnectionView(ErpConnection, db, name=_l("Connections"), endpoint="erp_connection",
                       url="/admin/erp/connection", category=ERP),
        IssueView(SyncIssue, db, name=_l("Sync issues"), endpoint="erp_issue", url="/admin/erp/issue", category=ERP),
    ]
