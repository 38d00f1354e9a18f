"""Admin views of the monthly sales plans and the custom metrics (apart from the records' views)."""
from __future__ import annotations

import json
from typing import Any

from flask import jsonify, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.fields import QuerySelectField
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from sqlalchemy import select
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from crmcore import entities as meta
from crmcore.admin import policy_form
from crmcore.admin.forms import active_users, all_teams, blank_to_none, role_label, user_label
from crmcore.admin.views import AdminForm, SecureModelView
from crmcore.errors import CRMError, ValidationError
from crmcore.i18n import gettext, lazy_gettext as _l
from crmcore.models import Role, User
from crmcore.runtime import ServiceContext

from ..models import SalesTarget
from ..services import metrics, targets
from ..services.metric_entities import AGGREGATABLE, ENTITIES
from .metric_builder import builder_meta


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


class ConditionBuilder:
    """The condition builder over the records picked in the form's ``entity`` field: fields, operators and values
    picked (records by name), no JSON shown; it writes the condition into the hidden input the form posts."""

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        return Markup(
            '<div class="condition-builder metric-conditions" data-entity-from="#entity" data-target="{id}" '
            'data-advanced="off" data-meta="{meta}"></div>'
            '<input type="hidden" id="{id}" name="{name}" value="{value}">'
            '<script type="application/json" id="condition-builder-text">{text}</script>'
            '<script src="{script}"></script>').format(
            id=field.id, name=field.name, value=field._value(), meta=url_for(".builder_meta", entity="x")[:-1],
            text=htmlsafe_json_dumps(policy_form.builder_text()),
            script=url_for("crm_admin_assets.static", filename="condition-builder.js"))


class ConditionField(StringField):
    """A condition as the builder posts it (the service validates it)."""

    widget = ConditionBuilder()


class MetricForm(AdminForm):
    # no rules of its own for the fields: the service's validation (MetricSchema) answers, as it does the API
    name = StringField(_l("Name"), render_kw={"required": True}, description=_l("letters, digits and _"))
    label = StringField(_l("Label"), render_kw={"required": True})
    description = TextAreaField(_l("Description"))
    entity = SelectField(_l("Records"), choices=[(k, v.label) for k, v in ENTITIES.items()], validate_choice=False)
    conditions = ConditionField(_l("Records that count"), description=_l("empty: all records of the period"))
    aggregate = SelectField(_l("Aggregate"), choices=[("count", _l("count")), ("sum", _l("sum")),
                                                       ("avg", _l("average"))], validate_choice=False)
    field = SelectField(_l("Field to sum or average"), validate_choice=False, description=_l("for a count: none"))
    share_roles = SelectMultipleField(_l("Shared with roles"), coerce=int, validate_choice=False)
    share_users = SelectMultipleField(_l("Shared with people"), coerce=int, validate_choice=False)


def _choices(ctx: ServiceContext, form: Any) -> None:
    """The number fields to sum or average (by record type), the roles and people to share with: all by name."""
    registered = meta.registered(ctx)
    fields = [SelectChoice("", "—")]
    for spec in ENTITIES.values():
        labels = registered[spec.name].labels if spec.name in registered else {}
        fields += [SelectChoice(name, str(labels.get(name) or spec.labels.get(name) or meta.COMMON_LABELS.get(name) or name),
                                optgroup=str(spec.label))
                   for name, kind in spec.fields.items() if kind in AGGREGATABLE]
    form.field.choices = fields
    form.share_roles.choices = [(r.id, role_label(r)) for r in ctx.session.scalars(select(Role).order_by(Role.name))]
    form.share_users.choices = [(u.id, u.full_name or u.username) for u in ctx.session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.username))]


def _definition(view: Any, context: Any, model: Any, name: str) -> Any:
    """A list cell of what the metric counts: the report's definition when a report defines it, in words."""
    value = getattr(metrics.shown(view.ctx(), model), name)
    if name == "entity":
        return ENTITIES[value].label if value in ENTITIES else value
    if name == "aggregate":
        return dict(MetricForm.aggregate.kwargs["choices"]).get(value or "count", value)
    if name == "field" and value:  # the field's word, not its column
        kind = metrics.shown(view.ctx(), model).entity
        entity, spec = meta.registered(view.ctx()).get(kind), ENTITIES.get(kind)
        return str((entity.labels if entity else {}).get(value) or (spec.labels if spec else {}).get(value)
                   or meta.COMMON_LABELS.get(value) or value)
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
        _choices(self.ctx(), form)
        return form

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        _choices(self.ctx(), form)
        if obj is not None:
            shown = metrics.shown(self.ctx(), obj)  # when a report defines the metric: the report's definition
            if shown.report is not None:
                form.entity.description = Markup("{} <a href=\"{}\">{}</a>").format(
                    gettext("What this metric counts is defined by the report"),
                    url_for("reports_admin.edit", id=shown.report["id"]), shown.report["name"])
            if not form.is_submitted():
                form.entity.data, form.aggregate.data, form.field.data = shown.entity, shown.aggregate, shown.field
                form.conditions.data = json.dumps(shown.conditions, ensure_ascii=False) if shown.conditions else ""
                form.share_roles.data = [s.role_id for s in obj.shares if s.role_id]
                form.share_users.data = [s.user_id for s in obj.shares if s.user_id]
        return form

    @expose("/builder/meta/<entity>")
    def builder_meta(self, entity: str) -> Any:
        """The condition builder's fields of a metric's records (labels in the reader's language, records by name)."""
        ctx = self.ctx()
        if not ctx.can(self.permission):
            return self.forbidden()
        try:
            return jsonify(builder_meta(ctx, entity))
        except CRMError as exc:
            return jsonify(exc.to_dict()), exc.status

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        text = (form.conditions.data or "").strip()
        try:
            conditions = json.loads(text) if text else None
        except ValueError:
            conditions = text  # not a condition: refused by the service, next to the field
        shares = [{"role_id": r} for r in form.share_roles.data or []] + [{"user_id": u} for u in form.share_users.data or []]
        data = {"name": form.name.data, "label": form.label.data, "description": blank_to_none(form.description.data),
                "entity": form.entity.data, "conditions": conditions, "aggregate": form.aggregate.data,
                "field": blank_to_none(form.field.data), "shares": shares}
        if model is not None and (shown := metrics.shown(self.ctx(), model)).report is not None:
            for key in metrics.DEFINITION:  # what the report defines goes only when changed (the report's fields)
                if data[key] == getattr(shown, key) or (key == "field" and data["aggregate"] == "count" == shown.aggregate):
                    del data[key]
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        try:
            return metrics.create_metric(ctx, data)
        except ValidationError as exc:
            raise policy_form.condition_errors_on_fields(exc, {"shares": "share_roles"}) from None

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        try:
            return metrics.update_metric(ctx, model.id, data)
        except ValidationError as exc:
            raise policy_form.condition_errors_on_fields(exc, {"shares": "share_roles"}) from None

    def service_delete(self, ctx: ServiceContext, model: Any) -> None:
        metrics.delete_metric(ctx, model.id)

