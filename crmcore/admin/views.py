"""``SecureModelView``: the base of every admin view, core and plugins alike.

It requires a logged-in user, checks a read ``permission`` and a ``write_permission`` through
the ServiceContext, puts the Flask-WTF CSRF token on every form, and sends every write through
a service function (so audit entries, events and hooks fire), never through ``populate_obj``.

A plugin's view::

    class TicketView(SecureModelView):
        permission = "ticket.read"
        write_permission = "ticket.write"

        def service_create(self, ctx, data):
            return tickets.create_ticket(ctx, data)

        def service_update(self, ctx, model, data):
            return tickets.update_ticket(ctx, model.id, data)

    # in the plugin: @hookimpl def crm_register_admin_views(db): return [TicketView(Ticket, db, ...)]

A view that does not define ``service_create`` / ``service_update`` / ``service_delete`` cannot
create / edit / delete: there is no write path that bypasses the services.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, TYPE_CHECKING

from flask import current_app, flash, redirect, request, url_for
from flask_admin import BaseView
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from markupsafe import Markup, escape
from marshmallow import ValidationError as MarshmallowValidationError
from wtforms import SelectField
from wtforms.fields.core import UnboundField
from wtforms.validators import Optional

from ..errors import CRMError, PermissionDenied
from ..schemas.limits import check_date, check_text
from ..i18n import gettext

if TYPE_CHECKING:
    from ..runtime import ServiceContext


class AdminForm(FlaskForm):
    """Flask-Admin's form base with Flask-WTF's CSRF token (checked by CSRFProtect too)."""

    def __init__(self, formdata: Any = _Auto, obj: Any = None, prefix: str = "", **kwargs: Any) -> None:
        # Flask-Admin passes formdata explicitly (None on GET); called without it, FlaskForm reads the request.
        self._obj = obj
        super().__init__(formdata=formdata, obj=obj, prefix=prefix, **kwargs)

    def validate(self, extra_validators: Any = None) -> bool:
        """The field validators, then the limits every input gets (``CRM_TEXT_MAX``, no NUL, dates in range)."""
        valid = bool(super().validate(extra_validators))
        for field in self:
            if isinstance(field.data, (str, dt.date)):
                try:
                    check_text(field.data) if isinstance(field.data, str) else check_date(field.data)
                except MarshmallowValidationError as exc:
                    messages = exc.messages if isinstance(exc.messages, list) else [exc.messages]  # a lone lazy one
                    field.errors = [*field.errors, *(str(m) for m in messages)]
                    valid = False
        return valid


def runtime() -> Any:
    """The current app's ``crmcore.runtime.Runtime``."""
    return current_app.extensions["crm"]


def service_context() -> ServiceContext:
    """A ServiceContext acting as the logged-in user, from the admin."""
    actor = current_user._get_current_object() if current_user.is_authenticated else None
    if actor is None:
        raise PermissionDenied(gettext("Log in first."))
    ctx: ServiceContext = runtime().context(actor=actor, source="admin")
    return ctx


def login_redirect() -> Any:
    # script_root: the CRM may be mounted under a prefix (examples/embed_in_flask.py)
    return redirect(url_for("crm_auth.login", next=(request.script_root + request.full_path).rstrip("?")))


def flash_crm_error(exc: CRMError, form: Any = None) -> None:
    """Flash the error's message and its field errors; attach field errors to the form's fields."""
    flash(exc.message, "error")
    for name, messages in _flatten(exc.errors):
        messages = [str(m) for m in messages]  # lazy translations become text (templates test ``is string``)
        field = _form_field(form, name) if form is not None else None
        if field is not None:
            field.errors = list(field.errors or []) + messages
        else:
            flash(f"{name}: {' '.join(str(m) for m in messages)}", "error")


def _flatten(errors: dict[str, Any], prefix: str = "") -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for key, value in (errors or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(_flatten(value, prefix=f"{name}."))
        else:
            out.append((name, list(value) if isinstance(value, (list, tuple)) else [value]))
    return out


def _form_field(form: Any, name: str) -> Any:
    for candidate in (name, name.replace("attributes.", "attr__"), name.removesuffix("_id")):
        field = getattr(form, candidate, None) if candidate else None
        if field is not None and hasattr(field, "errors"):
            return field
    return None


def _require(ctx: ServiceContext, permission: str | None) -> None:
    if permission is not None:
        ctx.require(permission)
    elif ctx.actor is not None and not ctx.actor.active:
        raise PermissionDenied(gettext("This account is disabled."))


class PermissionMixin:
    """Login and permission checks shared by model views and plain pages."""

    permission: str | None = None  # to see the view at all
    write_permission: str | None = None  # to create and edit (defaults to ``permission``)
    delete_permission: str | None = None  # to delete (defaults to ``write_permission``)

    def ctx(self) -> Any:
        return service_context()

    def can(self, permission: str | None) -> bool:
        if not current_user.is_authenticated or not current_user.active:
            return False
        return permission is None or self.ctx().can(permission)

    def can_write(self) -> bool:
        return self.can(self.write_permission or self.permission)

    def can_remove(self) -> bool:
        return self.can(self.delete_permission or self.write_permission or self.permission)

    def is_accessible(self) -> bool:
        return self.can(self.permission)

    def is_visible(self) -> bool:
        return self.is_accessible()

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_redirect()
        return self.forbidden()

    def forbidden(self, message: str | None = None) -> Any:
        """A 403 page in the admin's layout (the menu still shows what the user may open)."""
        return self.render("admin/crm/forbidden.html", message=message), 403  # type: ignore[attr-defined]


def with_options(flt: Any, loader: Any) -> Any:
    """Give a filter choices read from the database on each request (see DynamicOptionsMixin)."""
    flt.options_loader = loader
    return flt


class DynamicOptionsMixin:
    """Filters whose choices (owners, tags) come from the database at request time."""

    def _get_filter_groups(self) -> Any:
        groups = super()._get_filter_groups()  # type: ignore[misc]
        for items in (groups or {}).values():
            for item in items:
                loader = getattr(self._filters[item["index"]], "options_loader", None)  # type: ignore[attr-defined]
                if loader is not None:
                    item["options"] = loader()
        return groups


class SecureModelView(DynamicOptionsMixin, PermissionMixin, ModelView):
    """A ModelView whose writes go through services; see the module docstring."""

    form_base_class = AdminForm
    page_size = 20
    can_set_page_size = True
    list_template = "admin/crm/list.html"
    create_template = "admin/crm/create.html"
    edit_template = "admin/crm/edit.html"
    details_template = "admin/crm/details.html"

    # True: the service validates the fields (crmcore.services.validation), so a form scaffolded from the
    # model keeps no rules of its own (length, required, unique, range): the service's field errors are
    # shown instead, the same words the API gives.
    service_validates = False

    def scaffold_form(self) -> Any:
        form_class = super().scaffold_form()
        if self.service_validates:
            for name in dir(form_class):
                field = getattr(form_class, name, None)
                if isinstance(field, UnboundField):
                    field.kwargs["validators"] = [v for v in field.kwargs.get("validators") or ()
                                                  if isinstance(v, Optional)]
                    if issubclass(field.field_class, SelectField):
                        field.kwargs["validate_choice"] = False
        return form_class

    # Flask-Admin 2.2.0 unwraps only Flask-SQLAlchemy's db objects; ours (crmcore.db.Database,
    # anything with ``.session``) is unwrapped here, to its scoped session, on every access.
    @property
    def session(self) -> Any:
        db: Any = self.__dict__.get("_crm_db")
        return db.session if hasattr(db, "session") else db

    @session.setter
    def session(self, value: Any) -> None:
        self.__dict__["_crm_db"] = value

    # ---- what subclasses implement -------------------------------------------------------
    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        """Create the record through a service; return it."""
        raise NotImplementedError

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        """Change ``model`` through a service."""
        raise NotImplementedError

    def service_delete(self, ctx: ServiceContext, model: Any) -> None:
        """Delete ``model`` through a service."""
        raise NotImplementedError

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        """The service's input from the submitted form (by default: every field but the token)."""
        return {name: field.data for name, field in form._fields.items() if name != "csrf_token"}

    # ---- capabilities follow the service methods and the write permission ----------------
    def _implements(self, name: str) -> bool:
        return getattr(type(self), name) is not getattr(SecureModelView, name)

    @property
    def can_create(self) -> bool:
        return self._implements("service_create") and self.can_write()

    @property
    def can_edit(self) -> bool:
        return self._implements("service_update") and self.can_write()

    @property
    def can_delete(self) -> bool:
        return self._implements("service_delete") and self.can_remove()

    # ---- writes ---------------------------------------------------------------------------
    def create_model(self, form: Any) -> Any:
        return self._write(form, None, lambda ctx, data: self.service_create(ctx, data), created=True)

    def update_model(self, form: Any, model: Any) -> bool:
        return bool(self._write(form, model, lambda ctx, data: self.service_update(ctx, model, data) or model,
                                created=False))

    def delete_model(self, model: Any) -> bool:
        try:
            ctx = self.ctx()
            _require(ctx, self.delete_permission or self.write_permission or self.permission)
            self.service_delete(ctx, model)
        except CRMError as exc:
            self.session.rollback()
            flash_crm_error(exc)
            return False
        self.after_model_delete(model)
        return True

    def _write(self, form: Any, model: Any, call: Any, *, created: bool) -> Any:
        try:
            ctx = self.ctx()
            _require(ctx, self.write_permission or self.permission)
            data = self.form_to_data(form, model)
            result = call(ctx, data)
        except CRMError as exc:
            self.session.rollback()
            flash_crm_error(exc, form)
            return False
        self.after_model_change(form, result, created)
        return result

    def handle_view_exception(self, exc: Exception) -> bool:
        if isinstance(exc, CRMError):
            flash_crm_error(exc)
            return True
        return bool(super().handle_view_exception(exc))

    # ---- reads ------------------------------------------------------------------------------
    def get_one(self, id: Any) -> Any:
        """Through ``get_query`` so record rules apply to details, edit and delete too."""
        pk = self.model.__mapper__.primary_key[0]
        try:
            return self.get_query().filter(pk == int(id) if str(id).isdigit() else pk == id).one_or_none()
        except (ValueError, TypeError):
            return None


class SecureView(PermissionMixin, BaseView):
    """A plain admin page (not a model) with the same login and permission checks."""


def badge(text: Any, kind: str = "secondary") -> Markup:
    return Markup('<span class="badge badge-{}">{}</span>').format(kind, escape(text))


__all__ = ["AdminForm", "SecureModelView", "SecureView", "service_context", "flash_crm_error", "badge", "with_options"]


def row_post_button(endpoint: str, target: Any, label: str, style: str = "primary") -> Markup:
    """A one-button form in a list row that posts ``target`` (with CSRF) to ``endpoint`` and comes back here."""
    from flask import request, url_for
    from flask_wtf.csrf import generate_csrf

    return Markup('<form method="post" action="{}" class="d-inline"><input type="hidden" name="csrf_token" value="{}">'
                  '<input type="hidden" name="target" value="{}"><button class="btn btn-sm btn-outline-{}" '
                  'type="submit">{}</button></form>').format(
        url_for(endpoint, url=request.full_path), generate_csrf(), target, style, label)
