"""Admin views of the monthly sales plans and the custom metrics (apart from the records' views)."""
from __future__ import annotations

import json
from typing import Any

from flask import url_for
from flask_admin.contrib.sqla.fields import QuerySelectField
from markupsafe import Markup
from wtforms import SelectField, StringField, TextAreaField

from crmcore.admin.forms import active_users, all_teams, blank_to_none, user_label
from crmcore.admin.views import AdminForm, SecureModelView
from crmcore.i18n import gettext, lazy_gettext as _l
from crmcore.runtime import ServiceContext

from ..models import SalesTarget
from ..services import metrics, targets
from ..services.metric_entities import ENTITIES


def _team_label(team: Any) -> str:
    return team.name


class TargetForm(AdminForm):
    # no rules of its own: the service's validation (TargetSchema) answers, as it does the API
    year = StringField(_l("Year"), render_kw={"required": True, "inputmode": "numeric"})
    month = StringField(_l("Month"), render_kw={"required": True, "inputmode": "numeric"})
    user = QuerySelectField(_l("Rep"), query_factory=active_users, get_label=user_label, allow_blank=True,
                            blank_text="—")
    team = QuerySelectField(_l("Team"), query_factory=all_teams, get_label=_team_label, allow_blank=True,
                            blank_text="—", description=_l("Neither rep nor team: the company's plan"))
    amount = StringField(_l("Amount"), render_kw={"required": True, "inputmode": "decimal"})
    currency = StringField(_l("Currency"), default="CNY")


class TargetView(SecureModelView):
    permission = "sales.target.read"
    write_permission = "sales.target.manage"
    form = TargetForm
    column_list = ("year", "month", "user_id", "team_id", "amount", "currency")
    column_labels = {"year": _l("Year"), "month": _l("Month"), "user_id": _l("Rep"), "team_id": _l("Team"),
                     "amount": _l("Amount"), "currency": _l("Currency")}
    column_default_sort = [("year", True), ("month", True)]

    def get_query(self) -> Any:
        ids = [t.id for t in targets.list_targets(self.ctx())]
        return super().get_query().filter(SalesTarget.id.in_(ids or [-1]))

    def get_count_query(self) -> Any:
        ids = [t.id for t in targets.list_targets(self.ctx())]
        return super().get_count_query().filter(SalesTarget.id.in_(ids or [-1]))

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return {"year": blank_to_none(form.year.data), "month": blank_to_none(form.month.data),
                "amount": blank_to_none(form.amount.data),
                "currency": blank_to_none(form.currency.data),
                "user_id": form.user.data.id if form.user.data else None,
                "team_id": form.team.data.id if form.team.data else None}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return targets.set_target(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return targets.set_target(ctx, data)

    def service_delete(self, ctx: ServiceContext, model: Any) -> None:
        targets.delete_target(ctx, model.id)


class MetricForm(AdminForm):
    # no rules of its own for the fields: the service's validation (MetricSchema) answers, as it does the API
    name = StringField(_l("Name"), render_kw={"required": True}, description=_l("letters, digits and _"))
    label = StringField(_l("Label"), render_kw={"required": True})
    description = TextAreaField(_l("Description"))
    entity = SelectField(_l("Records"), choices=[(k, v.label) for k, v in ENTITIES.items()], validate_choice=False)
    conditions = TextAreaField(_l("Conditions (JSON)"), render_kw={"rows": 6, "class": "text-monospace"})  # metric_help
    aggregate = SelectField(_l("Aggregate"), choices=[("count", _l("count")), ("sum", _l("sum")),
                                                       ("avg", _l("average"))], validate_choice=False)
    field = StringField(_l("Field to sum or average"))
    shares = StringField(_l("Shared with"))  # its help: metric_help()


def metric_help() -> dict[str, Markup]:
    """The metric form's help for its typed fields: words, each example as code."""
    return {
        "conditions": Markup("{} <code>{}</code>; {} <code>all</code> {}, <code>any</code> {}, <code>not</code> {}.").format(
            gettext("Which records count: a field, a comparison and a value, for example"),
            '{"field": "status", "op": "eq", "value": "won"}', gettext("groups:"), gettext("(all hold)"),
            gettext("(one holds)"), gettext("(does not hold)")),
        "shares": Markup("{} <code>role:sales, role:manager, user:7</code>").format(
            gettext("Roles by name and users by number, separated by commas, for example")),
    }


def _definition(view: Any, context: Any, model: Any, name: str) -> Any:
    """A list cell of what the metric counts: the report's definition when a report defines it, in words."""
    value = getattr(metrics.shown(view.ctx(), model), name)
    if name == "entity":
        return ENTITIES[value].label if value in ENTITIES else value
    if name == "aggregate":
        return dict(MetricForm.aggregate.kwargs["choices"]).get(value or "count", value)
    return value


class MetricView(SecureModelView):
    permission = "sales.metric.manage"
    form = MetricForm
    column_list = ("name", "label", "entity", "aggregate", "field")
    column_labels = {"name": _l("Name"), "label": _l("Label"), "entity": _l("Records"),
                     "aggregate": _l("Aggregate"), "field": _l("Field")}
    column_formatters = {"entity": _definition, "aggregate": _definition, "field": _definition}

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        for name, text in metric_help().items():
            form[name].description = text
        return form

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        for name, text in metric_help().items():
            form[name].description = text
        if obj is not None:
            shown = metrics.shown(self.ctx(), obj)  # when a report defines the metric: the report's definition
            if shown.report is not None:
                form.entity.description = Markup("{} <a href=\"{}\">{}</a>").format(
                    gettext("What this metric counts is defined by the report"),
                    url_for("reports_admin.edit", id=shown.report["id"]), shown.report["name"])
            if not form.is_submitted():
                form.entity.data, form.aggregate.data, form.field.data = shown.entity, shown.aggregate, shown.field
                form.conditions.data = json.dumps(shown.conditions, ensure_ascii=False, indent=2) if shown.conditions else ""
                form.shares.data = ", ".join(f"role:{s.role_id}" if s.role_id else f"user:{s.user_id}" for s in obj.shares)
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        from crmcore.errors import ValidationError

        text = (form.conditions.data or "").strip()
        try:
            conditions = json.loads(text) if text else None
        except json.JSONDecodeError as exc:
            raise ValidationError(gettext("The conditions are not valid JSON."),
                                  errors={"conditions": [str(exc)]}) from None
        shares = []
        for part in (form.shares.data or "").replace("，", ",").split(","):
            kind, _, value = part.strip().partition(":")
            if not kind:
                continue
            if kind == "user" and value.strip().isdigit():
                shares.append({"user_id": int(value)})
            elif kind == "role" and value.strip().isdigit():
                shares.append({"role_id": int(value)})
            elif kind == "role":
                shares.append({"role": value.strip()})
            else:
                shares.append({kind: value})  # refused with a message by the service
        return {"name": form.name.data, "label": form.label.data, "description": blank_to_none(form.description.data),
                "entity": form.entity.data, "conditions": conditions, "aggregate": form.aggregate.data,
                "field": blank_to_none(form.field.data), "shares": shares}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return metrics.create_metric(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return metrics.update_metric(ctx, model.id, data)

    def service_delete(self, ctx: ServiceContext, model: Any) -> None:
        metrics.delete_metric(ctx, model.id)

