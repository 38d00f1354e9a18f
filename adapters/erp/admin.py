"""Admin pages of the ERP sync: connections (secret write-only, "test connection"), stream status with
bookmarks and last runs, and sync issues with retry."""
from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from crmcore.admin.labels import field as field_label
from crmcore.admin.views import AdminForm, SecureModelView, SecureView, badge, flash_crm_error
from crmcore.errors import CRMError, ValidationError
from crmcore.i18n import gettext, lazy_gettext as _l
from crmcore.runtime import ServiceContext

from . import connections as conn_svc
from . import issues as issue_svc
from .models import ErpConnection, SyncIssue

ERP = _l("ERP sync")
# the adapters' settings in the reader's words (the key stays beside them as a hint)
SETTING_LABELS = {"url": _l("Server address"), "database": _l("Database"), "login": _l("Login name"),
                  "directory": _l("Folder")}


def adapter_choices(ctx: ServiceContext) -> list[tuple[str, str]]:
    """The registered adapters as (code, name in the reader's words), by name."""
    return sorted(((code, gettext(cls.label) if cls.label else code) for code, cls in conn_svc.erp_adapters(ctx).items()),
                  key=lambda c: c[1].lower())


def adapter_label(ctx: ServiceContext, code: str | None) -> str:
    """An adapter's name in the reader's words; one no plugin registers shows as stored."""
    return dict(adapter_choices(ctx)).get(code or "", code or "")


def settings_help(ctx: ServiceContext) -> Markup:
    """What each adapter needs in its settings, in words, with each key as a hint."""
    parts = []
    for code, label in adapter_choices(ctx):
        keys = conn_svc.erp_adapters(ctx)[code].required_settings
        fields = Markup(", ").join(Markup("{} <code>{}</code>").format(SETTING_LABELS.get(k) or field_label(k), k)
                                   for k in keys)
        parts.append(Markup("{}: {}").format(label, fields) if keys else Markup("{}").format(label))
    return Markup("{} {}").format(gettext("A JSON object with the adapter's settings."), Markup("; ").join(parts))


def ownership_help() -> Markup:
    """Field ownership in words, the JSON example as code."""
    return Markup('{} <code>{{"customer": {{"email": "erp"}}}}</code>').format(
        gettext("Who wins per field, by record type and field (the ERP or the CRM); default: "
                "the ERP owns name, credit limit and currency. Example:"))


ISSUE_KIND_LABELS = {"rejected": _l("Refused record"), "conflict": _l("Conflict"), "push_failed": _l("Push failed"),
                     "deleted": _l("Deleted in the ERP"), "invalid": _l("Invalid value"),
                     "unlinked": _l("Waiting for a linked record")}


class ConnectionForm(AdminForm):
    # the service checks the fields (connections.validate_connection): the same rules and words as the API
    name = StringField(_l("Name"), render_kw={"required": True})
    adapter = SelectField(_l("Adapter"), choices=[], validate_choice=False)
    settings = TextAreaField(_l("Settings (JSON)"), default="{}")  # its help: each adapter's settings (settings_help)
    secret = PasswordField(_l("Password / API key"), validators=[Optional()],
                           description=_l("Write-only: leave empty to keep the stored one."))
    streams = StringField(_l("Streams"), validators=[Optional()],
                          description=_l("Comma-separated; empty: every stream the adapter offers."))
    ownership = TextAreaField(_l("Field ownership (JSON)"), default="{}")  # its help: ownership_help()
    overlap_seconds = StringField(_l("Overlap window (s)"), default="300")
    timeout_seconds = StringField(_l("Request timeout (s)"), default="10")
    page_size = StringField(_l("Page size"), default="200")
    push_enabled = BooleanField(_l("Push CRM changes"), default=True)
    enabled = BooleanField(_l("Enabled"), default=True)


class ConnectionView(SecureModelView):
    permission = "erp.sync.read"
    write_permission = "erp.sync.manage"
    form = ConnectionForm
    column_list = ("name", "adapter", "enabled", "push_enabled", "last_test_at", "last_test_result", "test")
    column_labels = {"name": _l("Name"), "adapter": _l("Adapter"), "enabled": _l("Enabled"),
                     "push_enabled": _l("Push CRM changes"), "last_test_at": _l("Last test"),
                     "last_test_result": _l("Result"), "test": ""}
    column_formatters = {"test": lambda v, c, m, p: v._test_button(m),
                         "adapter": lambda v, c, m, p: adapter_label(v.ctx(), m.adapter)}
    column_details_exclude_list = ("secret",)
    column_export_exclude_list = ("secret",)
    can_view_details = True

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        form.adapter.choices = adapter_choices(self.ctx())
        form.settings.description = settings_help(self.ctx())
        form.ownership.description = ownership_help()
        return form

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        form.adapter.choices = adapter_choices(self.ctx())
        form.settings.description = settings_help(self.ctx())
        form.ownership.description = ownership_help()
        if request.method == "GET" and obj is not None:
            form.settings.data = json.dumps(obj.settings or {}, ensure_ascii=False)
            form.streams.data = ", ".join(obj.streams or [])
            form.ownership.data = json.dumps(obj.ownership or {}, ensure_ascii=False)
            form.secret.data = ""  # never sent back to the browser
        return form

    @staticmethod
    def _json(field: Any) -> dict[str, Any]:
        try:
            value = json.loads(field.data or "{}")
        except ValueError:  # the parser's English words (and the text around the error) are not repeated
            raise ValidationError(_l("The settings are not valid JSON."),
                                  errors={field.name: [_l("The settings are not valid JSON.")]}) from None
        if not isinstance(value, dict):
            raise ValidationError(_l("The settings are not valid JSON."), errors={field.name: [_l("Use an object.")]})
        return value

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        settings, ownership = self._json(form.settings), self._json(form.ownership)
        data = {"name": form.name.data, "adapter": form.adapter.data, "settings": settings, "ownership": ownership,
                "streams": [s.strip() for s in (form.streams.data or "").split(",") if s.strip()],
                "overlap_seconds": form.overlap_seconds.data, "timeout_seconds": form.timeout_seconds.data,
                "page_size": form.page_size.data, "push_enabled": form.push_enabled.data,
                "enabled": form.enabled.data}
        if form.secret.data:
            data["secret"] = form.secret.data
        return data

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
    column_filters = ("status", "kind", "connection", "stream")
    column_default_sort = ("id", True)
    can_view_details = True
    column_formatters = {"status": lambda v, c, m, p: badge(m.status, {"open": "warning", "resolved": "success"}
                                                            .get(m.status, "secondary")),
                         "kind": lambda v, c, m, p: ISSUE_KIND_LABELS.get(m.kind, m.kind)}

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
        return self.render("admin/erp/status.html", data=status(ctx), can_run=ctx.can("erp.sync.manage"))

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
