"""Users, roles, teams and API tokens in the admin (``user.manage``; tokens: also one's own)."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from flask import abort, current_app, flash, g, make_response, redirect, request
from flask_login import current_user, login_user
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BooleanEqualFilter
from flask_admin.form import FormOpts
from flask_admin.helpers import get_redirect_target
from markupsafe import Markup

from ..db import utcnow
from ..errors import CRMError
from ..i18n import gettext, lazy_gettext as _l, local_time
from ..models import ApiToken, Role, Team, User
from ..plugins import plugin_summary
from ..services import accounts, users as user_svc
from . import forms
from .views import SecureModelView, flash_crm_error, service_context
from ..schemas.common import db_id

if TYPE_CHECKING:
    from ..runtime import ServiceContext


def _when(value: Any) -> str:
    return local_time(value)


def _expiry(token: ApiToken) -> Any:
    """When the token stops working (``TOKEN_TTL_DAYS`` for tokens without their own expiry), marked once past."""
    expires = user_svc.token_expiry(token, service_context().settings)
    if expires is None:
        return gettext("Never")
    if expires <= utcnow():
        return Markup('<span class="badge badge-secondary">{}</span>').format(
            gettext("Expired %(when)s", when=_when(expires)))
    return _when(expires)


class UserView(SecureModelView):
    """Create users, change role and team, set a password, deactivate (users are never deleted)."""

    permission = "user.manage"

    column_list = ("username", "full_name", "email", "role", "team", "active", "last_login_at")
    column_labels = {"username": _l("Username"), "full_name": _l("Full name"), "email": _l("E-mail"),
                     "role": _l("Role"), "team": _l("Team"), "active": _l("Active"),
                     "last_login_at": _l("Last login")}
    column_searchable_list = ("username", "full_name", "email")
    column_filters = (BooleanEqualFilter(User.active, _l("Active")),)
    column_sortable_list = ("username", "full_name", "last_login_at")
    column_default_sort = ("username", False)
    column_formatters = {"last_login_at": lambda v, c, m, n: _when(m.last_login_at),
                         "role": lambda v, c, m, n: forms.role_label(m.role)}

    def get_create_form(self) -> Any:
        return forms.UserCreateForm

    def get_edit_form(self) -> Any:
        return forms.UserEditForm

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        if request.method == "GET":
            form.password.data = ""
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = {"full_name": forms.blank_to_none(form.full_name.data), "email": forms.blank_to_none(form.email.data),
                "locale": forms.blank_to_none(form.locale.data), "password": form.password.data or None,
                "role": form.role.data, "team": form.team.data}
        if model is None:
            data["username"] = (form.username.data or "").strip()
        else:
            data["active"] = bool(form.active.data)
            data["timezone"] = forms.blank_to_none(form.timezone.data)
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> User:
        return user_svc.create_user(ctx, data["username"], data["password"], data["role"].name, email=data["email"],
                                    full_name=data["full_name"], team=data["team"].name if data["team"] else None,
                                    locale=data["locale"])

    def service_update(self, ctx: ServiceContext, model: User, data: dict[str, Any]) -> User:
        role, team = data.pop("role"), data.pop("team")
        data.update(role_id=role.id, team_id=team.id if team else None)
        if not data["password"]:
            data.pop("password")
        user = accounts.update_user(ctx, model.id, data)
        if data.get("password") and current_user.is_authenticated and current_user.id == user.id:
            # every other session of the user ended with the old password; this one goes on under the new one
            login_user(user, remember=bool(request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME",
                                                                                       "remember_token"))))
        return user

    @action("deactivate", _l("Deactivate"), _l("Deactivate the selected users? They can no longer log in."))
    def action_deactivate(self, ids: list[str]) -> None:
        self._set_active(ids, False)

    @action("activate", _l("Activate"))
    def action_activate(self, ids: list[str]) -> None:
        self._set_active(ids, True)

    def _set_active(self, ids: list[str], active: bool) -> None:
        ctx, done = self.ctx(), 0
        for raw in ids:
            try:
                accounts.set_active(ctx, int(raw), active)
                done += 1
            except CRMError as exc:
                flash_crm_error(exc)
        flash(gettext("%(n)s user(s) changed.", n=done), "success")


# the permission families in words (a permission's name starts with its family: ``customer.read``)
FAMILY_LABELS = {"customer": _l("Customers"), "interaction": _l("Customer interactions"), "customfield": _l("Custom fields"),
                 "user": _l("Users"), "audit": _l("Audit log"), "workflow": _l("Workflows"), "approval": _l("Approvals"),
                 "outbox": _l("Outbox"), "job": _l("Background jobs"), "plugin": _l("Plugins"), "sales": _l("Sales"),
                 "service": _l("Service"), "analysis": _l("Analysis"), "erp": "ERP", "oa": "OA",
                 "loyalty": _l("Loyalty points"), "channels": _l("Messaging channels")}


class RoleView(SecureModelView):
    permission = "user.manage"

    form = forms.RoleForm
    form_widget_args = {"permissions": {"class": "crm-checks"}}
    column_list = ("name", "scope", "permissions", "description")
    column_labels = {"name": _l("Name"), "scope": _l("Record scope"), "permissions": _l("Permissions"),
                     "description": _l("Description")}
    column_default_sort = ("name", False)
    column_formatters = {"name": lambda v, c, m, n: forms.role_label(m.name),
                         "description": lambda v, c, m, n: gettext(m.description) if m.description else "",
                         "permissions": lambda v, c, m, n: Markup(" ").join(
        Markup('<code class="crm-perm">{}</code>').format(p) for p in (m.permissions or []))}

    def _prepare(self, form: Any) -> Any:
        perms = self.ctx().registry.permissions
        choices = [("*", gettext("* (everything)"))]
        families = sorted({name.split(".", 1)[0] for name in perms})
        # a family the core does not name is a plugin's (``marketing.*``): shown under the plugin's name
        plugins = {p["name"]: p["label"] for p in plugin_summary(self.ctx().runtime.pm)}
        choices += [(f"{fam}.*", gettext("All of: %(family)s", family=str(FAMILY_LABELS.get(fam) or plugins.get(fam, fam))))
                    for fam in families]
        choices += [(name, gettext(str(p.description)) if p.description else name) for name, p in sorted(perms.items())]
        form.permissions.choices = choices
        return form

    def create_form(self, obj: Any = None) -> Any:
        return self._prepare(super().create_form(obj))

    def edit_form(self, obj: Any = None) -> Any:
        return self._prepare(super().edit_form(obj))

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return {"name": (form.name.data or "").strip(), "description": forms.blank_to_none(form.description.data),
                "scope": form.scope.data, "permissions": list(form.permissions.data or [])}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Role:
        return accounts.create_role(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Role, data: dict[str, Any]) -> Role:
        return accounts.update_role(ctx, model.id, data)

    def service_delete(self, ctx: ServiceContext, model: Role) -> None:
        accounts.delete_role(ctx, model.id)


class TeamView(SecureModelView):
    permission = "user.manage"

    form = forms.TeamForm
    column_list = ("name", "manager")
    column_labels = {"name": _l("Name"), "manager": _l("Manager")}
    column_default_sort = ("name", False)

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return {"name": (form.name.data or "").strip(),
                "manager_id": form.manager.data.id if form.manager.data is not None else None}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Team:
        return accounts.create_team(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Team, data: dict[str, Any]) -> Team:
        return accounts.update_team(ctx, model.id, data)

    def service_delete(self, ctx: ServiceContext, model: Team) -> None:
        accounts.delete_team(ctx, model.id)


class TokenView(SecureModelView):
    """API tokens: the plain value is shown once, on creation; only a prefix and the hash are kept.

    Everyone may manage their own tokens; ``user.manage`` sees and issues everyone's.
    """

    permission = None
    form = forms.TokenForm
    column_list = ("prefix", "name", "user", "created_at", "last_used_at", "expires_at", "revoked_at")
    column_labels = {"prefix": _l("Token"), "name": _l("Name"), "user": _l("User"), "created_at": _l("Created"),
                     "last_used_at": _l("Last used"), "expires_at": _l("Expires"), "revoked_at": _l("Revoked")}
    column_default_sort = ("created_at", True)
    column_sortable_list = ("name", "created_at", "last_used_at")
    column_formatters = {
        "prefix": lambda v, c, m, n: Markup("<code>{}…</code>").format(m.prefix),
        "created_at": lambda v, c, m, n: _when(m.created_at),
        "last_used_at": lambda v, c, m, n: _when(m.last_used_at),
        "expires_at": lambda v, c, m, n: _expiry(m),
        "revoked_at": lambda v, c, m, n: Markup('<span class="badge badge-danger">{}</span>').format(
            _when(m.revoked_at)) if m.revoked_at else "",
    }
    column_exclude_list = ("token_hash",)
    column_details_exclude_list = ("token_hash",)
    column_export_exclude_list = ("token_hash",)

    def _manages_all(self) -> bool:
        return self.can("user.manage")

    def _own(self, query: Any) -> Any:
        if self._manages_all():
            return query
        return query.filter(ApiToken.user_id == self.ctx().actor.id)

    def get_query(self) -> Any:
        return self._own(super().get_query())

    def get_count_query(self) -> Any:
        return self._own(super().get_count_query())

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        me = self.ctx().actor
        if not self._manages_all():
            form.user.query_factory = lambda: [me]
        if request.method == "GET" and form.user.data is None:
            form.user.data = me
        ttl = user_svc.token_ttl_days(self.ctx().settings)
        if ttl:
            form.expires_days.description = gettext("Leave empty for the longest lifetime allowed: %(days)s days.",
                                                    days=ttl)
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return {"user": form.user.data, "name": (form.name.data or "").strip() or "default",
                "expires_days": form.expires_days.data}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> ApiToken:
        token, plain = user_svc.create_token(ctx, data["user"], data["name"], data["expires_days"])
        g.crm_token_plain = plain  # for this response only; never stored
        return token

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self) -> Any:
        """Like Flask-Admin's, but a created token is shown on the response page, once."""
        return_url = get_redirect_target() or self.get_url(".index_view")
        if not self.can_create:
            return redirect(return_url)
        form = self.create_form()
        if self.validate_form(form):
            token = self.create_model(form)
            if token:
                resp = make_response(self.render("admin/crm/token_created.html", token=token, plain=g.pop("crm_token_plain", None),
                                                 return_url=return_url))
                resp.headers["Cache-Control"] = "no-store"
                return resp
        elif request.method == "POST":
            flash(gettext("Failed to create record."), "error")
        return self.render(self.create_template, form=form, return_url=return_url,
                           form_opts=FormOpts(widget_args=self.form_widget_args, form_rules=self._form_create_rules))

    @expose("/revoke/", methods=("POST",))
    def revoke_view(self) -> Any:
        form = forms.ConfirmForm()
        token_id = request.form.get("target", type=db_id)
        if not form.validate() or token_id is None:
            abort(400)
        token = self.get_one(str(token_id))
        if token is None:
            abort(404)
        try:
            user_svc.revoke_token(self.ctx(), token.id)
            flash(gettext("The token %(prefix)s… was revoked.", prefix=token.prefix), "success")
        except CRMError as exc:
            flash_crm_error(exc)
        return redirect(get_redirect_target() or self.get_url(".index_view"))

    @action("revoke", _l("Revoke"), _l("Revoke the selected tokens? Programs using them will stop working."))
    def action_revoke(self, ids: list[str]) -> None:
        done = 0
        for raw in ids:
            token = self.get_one(raw)
            if token is None or token.revoked_at is not None:
                continue
            try:
                user_svc.revoke_token(self.ctx(), token.id)
                done += 1
            except CRMError as exc:
                flash_crm_error(exc)
        flash(gettext("%(n)s token(s) revoked.", n=done), "success")
