"""Admin tables of the analysis plugin: RFM segment rules and customer tag rules; writes go through
the services (validation, audit, events)."""
from __future__ import annotations

import json
from typing import Any

from wtforms import StringField, TextAreaField

from crmcore.admin.views import SecureModelView
from crmcore.errors import ValidationError
from crmcore.i18n import _, gettext, lazy_gettext as _l
from crmcore.runtime import ServiceContext

from ..services import segments, tags

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


class TagRuleView(SecureModelView):
    permission = "analysis.read"
    write_permission = "analysis.manage"
    column_list = ("name", "tag", "active", "last_count", "last_applied_at")
    form_columns = ("name", "tag", "conditions", "active")
    form_overrides = {"conditions": TextAreaField}
    service_validates = True

    def on_form_prefill(self, form: Any, id: Any) -> None:
        model = self.get_one(id)
        if model is not None:
            form.conditions.data = json.dumps(model.conditions, ensure_ascii=False, indent=2)

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = super().form_to_data(form, model)
        raw = data.get("conditions")
        if isinstance(raw, str):
            try:
                data["conditions"] = json.loads(raw or "{}")
            except ValueError:
                raise ValidationError(_("The conditions are not valid."),
                                      errors={"conditions": [str(_("Write JSON, e.g. {\"field\": \"clv\", \"op\": \"gte\", \"value\": 1000}."))]}) from None
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return tags.create_rule(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return tags.update_rule(ctx, model.id, data)

    def service_delete(self, ctx: ServiceContext, model: Any) -> None:
        tags.delete_rule(ctx, model.id)
