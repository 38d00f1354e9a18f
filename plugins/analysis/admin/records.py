"""Admin tables of the analysis plugin: RFM segment rules and customer tag rules; writes go through
the services (validation, audit, events)."""
from __future__ import annotations

import json
from typing import Any

from flask import jsonify, url_for
from flask_admin import expose
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from wtforms import BooleanField, StringField

from crmcore.admin import policy_form
from crmcore.admin.views import AdminForm, SecureModelView
from crmcore.errors import NotFound, ValidationError
from crmcore.i18n import _, gettext, lazy_gettext as _l
from crmcore.runtime import ServiceContext

from ..services import segments, tags
from .tag_builder import builder_meta

SCORES = ("priority", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max")


class SegmentRuleView(SecureModelView):
    permission = "analysis.read"
    write_permission = "analysis.manage"
    column_list = ("priority", "label", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max", "action", "active")
    column_labels = {"priority": _l("Priority"), "name": _l("Key"), "label": _l("Name"), "r_min": _l("R from"),
                     "r_max": _l("R to"), "f_min": _l("F from"), "f_max": _l("F to"), "m_min": _l("M from"),
                     "m_max": _l("M to"), "action": _l("Suggested action"), "active": _l("Active")}
    # a default label or action shows in the reader's language until an admin rewrites it
    column_formatters = {"label": lambda v, c, m, n: gettext(m.label), "action": lambda v, c, m, n: gettext(m.action)}
    form_columns = segments.FIELDS
    column_default_sort = "priority"
    # the numbers as typed: the service's schema reads them, with the API's words for a bad one
    form_overrides = dict.fromkeys(SCORES, StringField)
    service_validates = True

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return segments.save_segment(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return segments.save_segment(ctx, data, model)

    def service_delete(self, ctx: ServiceContext, model: Any) -> None:
        segments.delete_segment(ctx, model)


class ConditionBuilder:
    """The condition builder over the customer fields a tag rule may name (no JSON shown): it writes the
    condition into the hidden input the form posts."""

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        return Markup(
            '<div class="condition-builder tag-rule-conditions" data-entity="customer" data-target="{id}" '
            'data-advanced="off" data-meta="{meta}"></div>'
            '<input type="hidden" id="{id}" name="{name}" value="{value}">'
            '<script type="application/json" id="condition-builder-text">{text}</script>'
            '<script src="{script}"></script>').format(
            id=field.id, name=field.name, value=field._value(),
            meta=url_for(".builder_meta", entity="x")[:-1], text=htmlsafe_json_dumps(policy_form.builder_text()),
            script=url_for("crm_admin_assets.static", filename="condition-builder.js"))


class ConditionField(StringField):
    """A condition as the builder posts it (the service validates it)."""

    widget = ConditionBuilder()


class TagRuleForm(AdminForm):
    # no rules of its own: the service's validation (TagRuleSchema, the condition language) answers, as the API's
    name = StringField(_l("Name"), render_kw={"required": True})
    tag = StringField(_l("Tag"), render_kw={"required": True})
    conditions = ConditionField(_l("Customers who get the tag"))
    active = BooleanField(_l("Active"), default=True)


class TagRuleView(SecureModelView):
    permission = "analysis.read"
    write_permission = "analysis.manage"
    form = TagRuleForm
    column_list = ("name", "tag", "active", "last_count", "last_applied_at")
    column_labels = {"name": _l("Name"), "tag": _l("Tag"), "active": _l("Active"),
                     "last_count": _l("Customers tagged"), "last_applied_at": _l("Last applied")}
    service_validates = True

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        if obj is not None and not form.is_submitted():
            form.conditions.data = json.dumps(obj.conditions, ensure_ascii=False) if obj.conditions else ""
        return form

    @expose("/builder/meta/<entity>")
    def builder_meta(self, entity: str) -> Any:
        """The condition builder's fields of a tag rule (labels in the reader's language, segments by name)."""
        ctx = self.ctx()
        if not ctx.can(self.write_permission):  # the form's: who may write a tag rule
            return self.forbidden()
        if entity != "customer":
            exc = NotFound(_("Unknown record type %(name)s.", name=entity))
            return jsonify(exc.to_dict()), exc.status
        return jsonify(builder_meta(ctx))

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        text = (form.conditions.data or "").strip()
        try:
            conditions = json.loads(text) if text else {}
        except ValueError:
            conditions = text  # not a condition: refused by the service, next to the field
        return {"name": form.name.data, "tag": form.tag.data, "conditions": conditions, "active": bool(form.active.data)}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        try:
            return tags.create_rule(ctx, data)
        except ValidationError as exc:
            raise policy_form.condition_errors_on_fields(exc) from None

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        try:
            return tags.update_rule(ctx, model.id, data)
        except ValidationError as exc:
            raise policy_form.condition_errors_on_fields(exc) from None

    def service_delete(self, ctx: ServiceContext, model: Any) -> None:
        tags.delete_rule(ctx, model.id)
