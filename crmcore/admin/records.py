"""Contacts, interactions and custom field definitions in the admin, all written through services."""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from flask import request, url_for
from flask_admin.contrib.sqla.filters import FilterEqual
from markupsafe import Markup
from sqlalchemy import select

from ..i18n import gettext, local_time, stored_title
from ..i18n import lazy_gettext as _l
from ..models import Contact, Customer, CustomField, Interaction
from ..services import access, contacts as contact_svc, custom_fields as field_svc, interactions
from . import forms
from .views import SecureModelView, typed_key
from ..schemas.common import db_id

if TYPE_CHECKING:
    from ..runtime import ServiceContext


def _customer_link(customer: Customer | None) -> Markup | str:
    if customer is None:
        return ""
    return Markup('<a href="{}">{}</a>').format(url_for("customer.details_view", id=customer.id), customer.name)


def _visible_customer_ids(ctx: ServiceContext) -> Any:
    return access.scope_customers(ctx, select(Customer.id).where(Customer.deleted_at.is_(None),
                                                                 Customer.merged_into_id.is_(None)))


def _preselect_customer(form: Any) -> None:
    """``?customer_id=`` (links from the customer page) preselects the customer on GET."""
    customer_id = request.args.get("customer_id", type=db_id)
    if request.method == "GET" and customer_id and form.customer.data is None:
        form.customer.data = next((c for c in form.customer.query_factory() if c.id == customer_id), None)


class ContactView(SecureModelView):
    permission = "customer.read"
    write_permission = "customer.write"

    form = forms.ContactForm
    column_list = ("name", "customer", "title", "mobile", "phone", "email", "wechat", "qq", "is_primary")
    column_labels = {"name": _l("Name"), "customer": _l("Customer"), "title": _l("Title"), "mobile": _l("Mobile"),
                     "phone": _l("Phone"), "email": _l("E-mail"), "wechat": _l("WeChat"), "qq": _l("QQ"),
                     "is_primary": _l("Primary")}
    column_searchable_list = ("name", "email", "mobile", "phone", "wechat", "qq")
    column_sortable_list = ("name", "title")
    column_default_sort = ("name", False)
    column_formatters = {"customer": lambda v, c, m, n: _customer_link(m.customer)}

    def _visible(self, query: Any) -> Any:
        return query.filter(Contact.customer_id.in_(_visible_customer_ids(self.ctx())))

    def get_query(self) -> Any:
        return self._visible(super().get_query())

    def get_count_query(self) -> Any:
        return self._visible(super().get_count_query())

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        _preselect_customer(form)
        return form

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        del form["customer"]  # a contact stays with its customer (merging moves contacts)
        if request.method == "GET" and obj is not None:
            form.version.data = str(obj.version)
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = {name: forms.blank_to_none(getattr(form, name).data) for name in forms.CONTACT_FIELDS}
        data["is_primary"] = bool(data["is_primary"])
        if model is None:
            data["customer_id"] = form.customer.data.id
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Contact:
        customer_id = data.pop("customer_id")
        return contact_svc.create_contact(ctx, customer_id, data)

    def service_update(self, ctx: ServiceContext, model: Contact, data: dict[str, Any]) -> Contact:
        version = request.form.get("version")
        return contact_svc.update_contact(ctx, model.id, data,
                                          expected_version=int(version) if version and version.isdigit() else None)

    def service_delete(self, ctx: ServiceContext, model: Contact) -> None:
        contact_svc.delete_contact(ctx, model.id)

    def get_save_return_url(self, model: Any, is_created: bool = False) -> str:
        return url_for("customer.details_view", id=model.customer_id)


class InteractionView(SecureModelView):
    """The timeline across customers; touchpoints are logged, never edited."""

    permission = "interaction.read"
    write_permission = "interaction.write"

    form = forms.InteractionForm
    can_view_details = True
    column_list = ("occurred_at", "customer", "channel", "direction", "subject", "user", "source")
    column_labels = {"occurred_at": _l("When"), "customer": _l("Customer"), "channel": _l("Channel"),
                     "direction": _l("Direction"), "subject": _l("Subject"), "user": _l("By"),
                     "source": _l("Source"), "body": _l("Notes")}
    column_details_list = ("occurred_at", "customer", "channel", "direction", "subject", "body", "user", "source")
    column_searchable_list = ("subject", "body")
    column_filters = (FilterEqual(Interaction.channel, _l("Channel"), options=forms.CHANNEL_CHOICES),
                      FilterEqual(Interaction.direction, _l("Direction"), options=forms.DIRECTION_CHOICES),
                      FilterEqual(Interaction.source, _l("Source"), options=list(forms.SOURCE_LABELS.items())))
    column_sortable_list = ("occurred_at", "channel")
    column_default_sort = ("occurred_at", True)
    column_formatters = {
        "customer": lambda v, c, m, n: _customer_link(m.customer),
        "occurred_at": lambda v, c, m, n: local_time(m.occurred_at, seconds=False),
        "channel": lambda v, c, m, n: forms.code_label(m.channel),
        "direction": lambda v, c, m, n: forms.code_label(m.direction),
        "user": lambda v, c, m, n: forms.user_label(m.user) if m.user else "",
        "subject": lambda v, c, m, n: stored_title(m.subject, m.data),
        "source": lambda v, c, m, n: forms.source_label(m.source),
    }
    column_formatters_detail = {"customer": column_formatters["customer"], "subject": column_formatters["subject"],
                                "source": column_formatters["source"]}

    def _visible(self, query: Any) -> Any:
        ctx = self.ctx()
        visible = access.scope_customers(ctx, select(Customer.id).where(Customer.deleted_at.is_(None)))
        return query.filter(Interaction.customer_id.in_(visible))

    def get_query(self) -> Any:
        return self._visible(super().get_query())

    def get_count_query(self) -> Any:
        return self._visible(super().get_count_query())

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        _preselect_customer(form)
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return {"channel": form.channel.data, "direction": form.direction.data,
                "subject": (form.subject.data or "").strip(), "body": forms.blank_to_none(form.body.data),
                "customer_id": form.customer.data.id if form.customer.data else None}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Interaction:
        customer_id = data.pop("customer_id")
        return interactions.log_interaction(ctx, customer_id, data)


class CustomFieldView(SecureModelView):
    """Admin-defined fields; deleting one deactivates it and keeps stored values."""

    permission = "customfield.manage"

    form = forms.CustomFieldForm
    column_list = ("entity", "name", "label", "type", "required", "choices", "position", "active")
    column_labels = {"entity": _l("Record type"), "name": _l("Key (as typed)"), "label": _l("Label"), "type": _l("Type"),
                     "required": _l("Required"), "choices": _l("Choices"), "position": _l("Sort order"),
                     "active": _l("Active")}
    column_filters = ("entity", "type", "active")
    column_default_sort = [("entity", False), ("position", False)]
    column_formatters = {"choices": lambda v, c, m, n: ", ".join(map(str, m.choices or [])),
                         "type": lambda v, c, m, n: v._type_label(m.type),
                         "entity": lambda v, c, m, n: v._entity_label(m.entity),
                         "name": lambda v, c, m, n: typed_key(m.name)}

    def _entity_label(self, name: str) -> str:
        """A record type in the reader's words, from the entity metadata (``crmcore.entities``)."""
        from ..entities import registered

        entity = registered(self.ctx()).get(name)
        return str(entity.label) if entity is not None else name

    def _type_label(self, name: str) -> str:
        """A field type in the reader's words: its registered label through the catalogue."""
        kind = self.ctx().registry.field_types.get(name)
        label = str(getattr(kind, "label", "") or "")
        return gettext(label) if label else name

    def _prepare(self, form: Any) -> Any:
        types = self.ctx().registry.field_types
        form.type.choices = [(name, self._type_label(name)) for name in sorted(types)]
        return form

    def create_form(self, obj: Any = None) -> Any:
        return self._prepare(super().create_form(obj))

    def edit_form(self, obj: Any = None) -> Any:
        form = self._prepare(super().edit_form(obj))
        for name in ("entity", "name"):  # fixed once created: stored values are keyed by them
            form[name].render_kw = {"disabled": True}
            form[name].validators = []
            form[name].flags.required = False
        if request.method == "GET" and obj is not None:
            form.choices.data = "\n".join(map(str, obj.choices or []))
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = {"label": (form.label.data or "").strip(), "type": form.type.data, "required": bool(form.required.data),
                "choices": forms.split_list(form.choices.data), "help_text": forms.blank_to_none(form.help_text.data),
                "position": form.position.data or 0, "active": bool(form.active.data)}
        if model is None:
            data.update(entity=form.entity.data, name=(form.name.data or "").strip())
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> CustomField:
        return field_svc.create_field(ctx, data)

    def service_update(self, ctx: ServiceContext, model: CustomField, data: dict[str, Any]) -> CustomField:
        return field_svc.update_field(ctx, model.id, data)

    def service_delete(self, ctx: ServiceContext, model: CustomField) -> None:
        field_svc.delete_field(ctx, model.id)
