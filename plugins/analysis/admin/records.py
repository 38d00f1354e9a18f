"""Admin tables of the analysis plugin: RFM segment rules and customer tag rules; writes go through
the services (validation, audit, events)."""
from __future__ import annotations

import json
from typing import Any

from wtforms import TextAreaField

from crmcore.admin.views import SecureModelView
from crmcore.errors import ValidationError
from crmcore.events import record_change
from crmcore.i18n import _, gettext, lazy_gettext as _l
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext

from ..models import SegmentRule
from ..services import tags

SEGMENT_FIELDS = ("name", "label", "priority", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max", "action", "active")


def _check_segment(data: dict[str, Any]) -> None:
    errors = {}
    for dim in "rfm":
        lo, hi = data.get(f"{dim}_min"), data.get(f"{dim}_max")
        if lo is None or hi is None or not 1 <= lo <= hi <= 10:
            errors[f"{dim}_min"] = [str(_("Scores run from 1 to 10 and the minimum may not exceed the maximum."))]
    if errors:
        raise ValidationError(_("The segment is not valid."), errors=errors)


class SegmentRuleView(SecureModelView):
    permission = "analysis.read"
    write_permission = "analysis.manage"
    column_list = ("priority", "label", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max", "action", "active")
    column_labels = {"priority": _l("Priority"), "name": _l("Key"), "label": _l("Name"), "r_min": _l("R from"),
                     "r_max": _l("R to"), "f_min": _l("F from"), "f_max": _l("F to"), "m_min": _l("M from"),
                     "m_max": _l("M to"), "action": _l("Suggested action"), "active": _l("Active")}
    # a default label or action shows in the reader's language until an admin rewrites it
    column_formatters = {"label": lambda v, c, m, n: gettext(m.label), "action": lambda v, c, m, n: gettext(m.action)}
    form_columns = SEGMENT_FIELDS
    column_default_sort = "priority"

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        _check_segment(data)
        with unit_of_work(ctx):
            rule = SegmentRule()
            changes = apply_changes(rule, data, SEGMENT_FIELDS)
            ctx.session.add(rule)
            ctx.session.flush()
            record_change(ctx, "analysis_segment_rule", "created", rule.id, changes)
        return rule

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        _check_segment({**{f: getattr(model, f) for f in SEGMENT_FIELDS}, **data})
        with unit_of_work(ctx):
            changes = apply_changes(model, data, SEGMENT_FIELDS)
            record_change(ctx, "analysis_segment_rule", "updated", model.id, changes)
        return model

    def service_delete(self, ctx: ServiceContext, model: Any) -> None:
        with unit_of_work(ctx):
            ctx.session.delete(model)
            record_change(ctx, "analysis_segment_rule", "deleted", model.id, {"name": [model.name, None]})


class TagRuleView(SecureModelView):
    permission = "analysis.read"
    write_permission = "analysis.manage"
    column_list = ("name", "tag", "active", "last_count", "last_applied_at")
    form_columns = ("name", "tag", "conditions", "active")
    form_overrides = {"conditions": TextAreaField}

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
