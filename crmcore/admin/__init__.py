"""The Flask-Admin site at /admin: login, dashboard, the core's views and the plugins' views.

Every page needs a logged-in user; every view checks its permission through the
ServiceContext; every form carries the Flask-WTF CSRF token; every write goes through a
service. Plugins subclass :class:`crmcore.admin.views.SecureModelView` for their views.
All assets are served locally (Flask-Admin's bundled Bootstrap 4 and our CSS): no CDN.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from ..i18n import lazy_gettext as _l
from ..models import (ApiToken, AuditLog, Contact, Customer, CustomField, Interaction, JobExecution, OutboxMessage, Role,
                      Team, User)
from .accounts import RoleView, TeamView, TokenView, UserView
from .approvals import ApprovalsView, template_globals as approval_globals
from .auth import create_blueprint
from .customers import CustomerView
from .dashboard import DashboardView
from .jobs import JobRunView
from .record_picker import RecordPickerView
from .records import ContactView, CustomFieldView, InteractionView
from .system import AuditLogView, OutboxView, PluginsView
from .views import SecureModelView, SecureView
from .workflow import WorkflowDesignerView

__all__ = ["init_admin", "core_views", "SecureModelView", "SecureView"]

CUSTOMERS = _l("Customers")
SETTINGS = _l("Settings")
SYSTEM = _l("System")


def core_views(db: Any) -> list[Any]:
    """The core's admin views, in menu order."""
    return [
        CustomerView(Customer, db, name=_l("Customers"), endpoint="customer", category=CUSTOMERS),
        ContactView(Contact, db, name=_l("Contacts"), endpoint="contact", category=CUSTOMERS),
        InteractionView(Interaction, db, name=_l("Interactions"), endpoint="interaction", category=CUSTOMERS),
        CustomFieldView(CustomField, db, name=_l("Custom fields"), endpoint="custom_field", category=SETTINGS),
        UserView(User, db, name=_l("Users"), endpoint="user", category=SETTINGS),
        RoleView(Role, db, name=_l("Roles"), endpoint="role", category=SETTINGS),
        TeamView(Team, db, name=_l("Teams"), endpoint="team", category=SETTINGS),
        TokenView(ApiToken, db, name=_l("API tokens"), endpoint="api_token", category=SETTINGS),
        AuditLogView(AuditLog, db, name=_l("Audit log"), endpoint="audit_log", category=SYSTEM),
        OutboxView(OutboxMessage, db, name=_l("Outbox"), endpoint="outbox", category=SYSTEM),
        JobRunView(JobExecution, db, name=_l("Jobs"), endpoint="job_run", category=SYSTEM),
        PluginsView(name=_l("Plugins"), endpoint="plugins", category=SYSTEM),
        WorkflowDesignerView(name=_l("Workflows"), endpoint="workflow_designer", category=SETTINGS),
        ApprovalsView(name=_l("Approvals"), endpoint="approval_inbox"),
        RecordPickerView(name=_l("Records"), endpoint="record_picker"),
    ]


def _template_globals() -> dict[str, Any]:
    from flask_babel import get_locale

    locale = get_locale()
    return {"crm_lang": str(locale).replace("_", "-") if locale else "en"}


def init_admin(app: Flask, rt: Any, extra_views: list[Any]) -> Admin:
    """Mount the admin on ``app``: auth blueprint, local assets, core views, then ``extra_views``."""
    from ..i18n import local_money, local_number, local_percent, local_time, stored_title

    from . import labels
    from .system import shown_value
    from .forms import code_label, role_label, source_label

    app.jinja_env.filters.update(localtime=local_time, money=local_money, number=local_number,
                                 percent=local_percent, label=code_label, role_label=role_label,
                                 interaction_title=lambda item: stored_title(item.subject, item.data),
                                 source_label=source_label, record_type=labels.record_type,
                                 audit_action=labels.action, shown_value=shown_value)
    app.register_blueprint(create_blueprint())
    app.context_processor(_template_globals)
    app.context_processor(approval_globals)
    app.register_blueprint(Blueprint("crm_admin_assets", __name__, static_folder="static",
                                     static_url_path="/admin/_crm"))
    catalogues = Path(rt.settings["INSTANCE_PATH"]) / "translations"  # compiled by init_i18n; Flask-Admin's gaps
    admin = Admin(app, name="CRM", url="/admin", translations_path=str(catalogues),
                  index_view=DashboardView(name=_l("Home"), url="/admin", endpoint="admin"),
                  theme=Bootstrap4Theme(base_template="admin/crm/base.html", swatch="default", fluid=True))
    for view in core_views(rt.db):
        admin.add_view(view)
    for view in extra_views:
        admin.add_view(view)
    return admin
