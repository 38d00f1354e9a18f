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
from flask_admin.model import typefmt
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from markupsafe import Markup, escape
from sqlalchemy import Boolean, false
from marshmallow import ValidationError as MarshmallowValidationError
from wtforms import SelectField
from wtforms.fields.core import UnboundField
from wtforms.validators import Optional

from ..errors import CRMError, PermissionDenied
from ..schemas.limits import check_date, check_text
from ..i18n import gettext, local_time

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


def _shown_time(view: Any, value: dt.datetime, name: str) -> str:
    return local_time(value)


def _yes_no(view: Any, value: bool, name: str) -> Markup:
    return Markup('<span class="fa fa-{} icon-{}" title="{}"></span>').format(
        "check-circle" if value else "minus-circle", "ok-circle" if value else "minus-sign",
        gettext("Yes") if value else gettext("No"))


# times in the reader's zone, to the minute (never a stored UTC time with microseconds); yes/no in words
TYPE_FORMATTERS = {**typefmt.BASE_FORMATTERS, dt.datetime: _shown_time, bool: _yes_no}
DETAIL_TYPE_FORMATTERS = {**typefmt.DETAIL_FORMATTERS, dt.datetime: _shown_time, bool: _yes_no}


def record_name(obj: Any) -> str:
    """What a person calls a record: its name (a user's full name), title, subject or number, else its text."""
    for attr in ("full_name", "name", "title", "subject", "number", "username"):
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value:
            return value
    return str(obj)


class SecureModelView(DynamicOptionsMixin, PermissionMixin, ModelView):
    """A ModelView whose writes go through services; see the module docstring."""

    form_base_class = AdminForm
    column_type_formatters = TYPE_FORMATTERS
    column_type_formatters_detail = DETAIL_TYPE_FORMATTERS
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

    def _apply_search(self, query: Any, count_query: Any, joins: Any, count_joins: Any, search: str) -> Any:
        """Flask-Admin's search, refused in words for a term no database takes (a NUL, a lone surrogate: PostgreSQL
        failed on it with a server error): the list shows nothing and says why."""
        try:
            check_text(search)
        except MarshmallowValidationError as exc:
            flash(gettext("The search is not valid.") + " " + " ".join(str(m) for m in exc.messages), "error")
            nothing = false()
            return query.filter(nothing), (count_query.filter(nothing) if count_query is not None else None), joins, \
                count_joins
        return super()._apply_search(query, count_query, joins, count_joins, search)

    def scaffold_form(self) -> Any:
        form_class = super().scaffold_form()
        for name in dir(form_class):  # a field without a declared label: the list's word for it, translated
            field = getattr(form_class, name, None)
            if isinstance(field, UnboundField) and name not in (self.column_labels or {}) \
                    and "label" not in (self.form_args or {}).get(name, {}):
                field.kwargs["label"] = self.get_column_name(name)
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
    def _refresh_cache(self) -> None:
        """Flask-Admin's caches, then a label for every stored code the view's own form or filters
        offer as a choice (a status, a kind): the list and the details show the label, not the code."""
        super()._refresh_cache()
        for name, options in self._declared_choices().items():
            self._column_choices_map.setdefault(name, {str(k): v for k, v in options})

    def _declared_choices(self) -> dict[str, list[tuple[Any, Any]]]:
        out: dict[str, list[tuple[Any, Any]]] = {}
        for flt in self._filters or ():
            column, options = getattr(getattr(flt, "column", None), "key", None), getattr(flt, "options", None)
            if isinstance(getattr(getattr(flt, "column", None), "type", None), Boolean):
                continue  # a yes/no filter's options are no labels of stored values
            if isinstance(column, str) and isinstance(options, (list, tuple)) and options:
                out.setdefault(column, list(options))
        for form in (getattr(self, "_create_form_class", None), getattr(self, "_edit_form_class", None)):
            for name in dir(form) if form is not None else ():
                unbound = getattr(form, name, None)
                choices = getattr(unbound, "kwargs", {}).get("choices") if isinstance(unbound, UnboundField) else None
                if isinstance(choices, list) and choices and all(isinstance(c, tuple) and len(c) == 2 for c in choices):
                    out.setdefault(name, [c for c in choices if c[0] not in ("", None)])
        return out

    def get_column_name(self, field: str) -> Any:
        """The column's declared label, else the label entities share (``crmcore.entities``), else
        Flask-Admin's word for it in the reader's language (a count named ``created`` is no time)."""
        from .labels import field as field_word

        if self.column_labels and field in self.column_labels:
            return self.column_labels[field]
        return field_word(field)

    def search_placeholder(self) -> str | None:
        """The searchable columns' words in the reader's language (Flask-Admin shows unlabelled ones by name)."""
        if not self.column_searchable_list:
            return None
        names = [getattr(c, "key", c) for c in self.column_searchable_list]
        return ", ".join(str(self.get_column_name(str(n))) for n in names)

    def scaffold_filters(self, name: Any) -> Any:
        """Flask-Admin's filters for a column named by a string, under the column's word in the reader's
        language (Flask-Admin turns the name into text when the view is built, before any reader)."""
        filters = super().scaffold_filters(name)
        if isinstance(name, str) and "." not in name:
            for flt in filters or ():
                flt.name = self.get_column_name(name)
        return filters

    def get_details_columns(self) -> Any:
        """The details page's fields without bookkeeping, search copies and secrets (unless listed on purpose)."""
        from ..entities import internal

        columns = super().get_details_columns()
        if self.column_details_list:
            return columns
        return [(name, label) for name, label in columns if not internal(name)]

    def _get_list_value(self, context: Any, model: Any, name: str, column_formatters: Any,
                        column_type_formatters: Any) -> Any:
        if name not in column_formatters and name not in self._column_choices_map:
            related = self._related_record(model, name)
            if related is not None:
                return record_name(related)
        return super()._get_list_value(context, model, name, column_formatters, column_type_formatters)

    def _related_record(self, model: Any, name: str) -> Any:
        """The record a foreign-key column ``name`` points at (shown by its name, never its id)."""
        from sqlalchemy import inspect as sa_inspect

        mapper = sa_inspect(type(model), raiseerr=False)
        column = mapper.columns.get(name) if mapper is not None else None
        if column is None or not column.foreign_keys or getattr(model, name, None) is None:
            return None
        for rel in mapper.relationships:
            if [c.key for c in rel.local_columns] == [name] and rel.direction.name == "MANYTOONE":
                return getattr(model, rel.key)
        target = next(iter(column.foreign_keys)).column.table
        for other in mapper.registry.mappers:
            if other.local_table is target:
                return self.session.get(other.class_, getattr(model, name))
        return None

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


def typed_key(value: Any) -> Markup:
    """A key an admin typed (a state's or a custom field's): shown as typed, marked up as code, never a label."""
    return Markup('<code class="crm-key">{}</code>').format(value) if value else Markup("")


__all__ = ["AdminForm", "SecureModelView", "SecureView", "service_context", "flash_crm_error", "badge", "typed_key", "with_options"]


def row_post_button(endpoint: str, target: Any, label: str, style: str = "primary") -> Markup:
    """A one-button form in a list row that posts ``target`` (with CSRF) to ``endpoint`` and comes back here."""
    from flask import request, url_for
    from flask_wtf.csrf import generate_csrf

    return Markup('<form method="post" action="{}" class="d-inline"><input type="hidden" name="csrf_token" value="{}">'
                  '<input type="hidden" name="target" value="{}"><button class="btn btn-sm btn-outline-{}" '
                  'type="submit">{}</button></form>').format(
        url_for(endpoint, url=request.full_path), generate_csrf(), target, style, label)
