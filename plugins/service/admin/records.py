"""Model views of the service records; lists follow the record rules and every write calls the
same service function as the API, so audit entries and events fire."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from flask_admin.contrib.sqla.fields import QuerySelectField, QuerySelectMultipleField
from markupsafe import Markup
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from crmcore.admin.forms import CODE_LABELS, active_users, blank_to_none, split_list, user_label, visible_customers
from crmcore.admin.views import AdminForm, SecureModelView, badge, service_context, typed_key
from crmcore.errors import ValidationError
from crmcore.i18n import gettext, lazy_gettext as _l
from crmcore.services.access import scope_customers
from crmcore.runtime import ServiceContext

from ..models import CHANNELS, FOLLOWUP_CHANNELS, KINDS, PRIORITY_LABELS, Category
from ..services import assignment, categories, followups, sla, tickets
from ..services import states as states_svc
from ..services.sla import timer

PRIORITY_BADGES = {"low": "light", "normal": "secondary", "high": "warning", "urgent": "danger"}


def sla_cell(ticket: Any, t: dict[str, Any] | None = None) -> Markup:
    """The SLA timer of a ticket as a badge: business minutes left, late, paused or met (``t``: the
    ticket's ``timer`` when the caller has it already)."""
    t = t or timer(ticket)
    if t["target"] is None:
        return badge(_l("met") if not t["breached"] else _l("breached"), "danger" if t["breached"] else "success")
    left = t["minutes_left"]
    span = f"{abs(left) // 60}:{abs(left) % 60:02d}"  # hours:minutes, read alike in every language
    if left < 0:
        text = (gettext("paused, late %(time)s", time=span) if t["paused"]
                else gettext("late %(time)s", time=span))
        return badge(text, "danger")
    text = (gettext("paused, %(time)s left", time=span) if t["paused"]
            else gettext("%(time)s left", time=span))
    return badge(text, "warning" if left < 60 else "info")


# the reader's words for the plugin's other stored codes: ticket kinds and channels, quality records, follow-ups
KIND_LABELS = {"question": _l("Question"), "incident": _l("Incident"), "request": _l("Request"),
               "complaint": _l("Complaint")}
CHANNEL_LABELS = {"api": "API", "email": _l("E-mail"), "web": _l("Web"), "phone": _l("Phone"), "wechat": _l("WeChat"),
                  "wecom": _l("WeCom"), "sms": _l("SMS"), "weibo": _l("Weibo"), "qq": "QQ", "visit": _l("Visit"), "other": _l("Other")}
QUALITY_LABELS = {"kind": {"defect": _l("Defect"), "feedback": _l("Feedback")},
                  "severity": {"minor": _l("Minor"), "major": _l("Major"), "critical": _l("Critical")},
                  "state": {"open": _l("Open"), "investigating": _l("Investigating"), "closed": _l("Closed")}}
assert set(KIND_LABELS) == set(KINDS) and set(CHANNEL_LABELS) == set(CHANNELS)
DAY_KIND_LABELS = {"holiday": _l("holiday"), "workday": _l("working day")}  # a calendar's special days
FOLLOWUP_STATE_LABELS = {"due": _l("Due"), "done": _l("Done"), "unreachable": _l("Unreachable"),
                         "cancelled": _l("Cancelled")}


def priority_badge(priority: str) -> Markup:
    return badge(str(PRIORITY_LABELS.get(priority, priority)), PRIORITY_BADGES.get(priority, "secondary"))


def active_categories() -> Any:
    return service_context().session.scalars(select(Category).where(Category.active.is_(True))
                                             .order_by(Category.name)).all()


class TicketForm(AdminForm):
    # the service checks the fields (crmcore.services.validation): the same rules and words as the API
    subject = StringField(_l("Subject"), render_kw={"required": True})
    customer = QuerySelectField(_l("Customer"), query_factory=visible_customers, allow_blank=True, blank_text="—")
    category = QuerySelectField(_l("Category"), query_factory=active_categories, allow_blank=True, blank_text="—")
    kind = SelectField(_l("Kind"), choices=list(KIND_LABELS.items()), default="request", validate_choice=False)
    priority = SelectField(_l("Priority"), choices=list(PRIORITY_LABELS.items()), default="normal",
                           validate_choice=False)
    assignee = QuerySelectField(_l("Assignee"), query_factory=active_users, get_label=user_label, allow_blank=True, blank_text="—",
                                description=_l("Empty: the assignment rules choose"))
    description = TextAreaField(_l("Description"))
    order_number = StringField(_l("Order number"), validators=[Optional()])
    product_code = StringField(_l("Product code"), validators=[Optional()])


class TicketView(SecureModelView):
    permission = "service.ticket.read"
    write_permission = "service.ticket.write"
    column_list = ("number", "subject", "state", "priority", "customer", "assignee", "resolution_due_at", "sla")
    column_labels = {"number": _l("Number"), "subject": _l("Subject"), "state": _l("State"),
                     "priority": _l("Priority"), "customer": _l("Customer"), "assignee": _l("Assignee"),
                     "resolution_due_at": _l("Resolution due"), "sla": _l("SLA"),
                     "requester_phone": _l("Requester phone"), "requester_wechat": _l("Requester WeChat")}
    column_searchable_list = ("number", "subject", "requester_email")
    column_filters = ("state", "priority", "kind", "channel")
    column_choices = {"kind": list(KIND_LABELS.items()), "channel": list(CHANNEL_LABELS.items())}
    column_default_sort = ("id", True)
    column_formatters = {
        "sla": lambda v, c, m, n: sla_cell(m),
        "priority": lambda v, c, m, n: priority_badge(m.priority),
        "state": lambda v, c, m, n: state_name(m.state),
    }
    form = TicketForm
    can_view_details = True

    def get_query(self) -> Any:
        return tickets.scope_tickets(self.ctx(), super().get_query())

    def get_count_query(self) -> Any:
        return tickets.scope_tickets(self.ctx(), super().get_count_query())

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = {k: blank_to_none(getattr(form, k).data) for k in ("subject", "kind", "priority", "description",
                                                                  "order_number", "product_code")}
        for name in ("customer", "category", "assignee"):
            value = getattr(form, name).data
            data[f"{name}_id"] = value.id if value is not None else None
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        if data.get("assignee_id") is None:
            data.pop("assignee_id", None)  # let the assignment rules choose
        return tickets.create_ticket(ctx, data, channel="phone")

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return tickets.update_ticket(ctx, model.id, data)


class CustomerScopedView(SecureModelView):
    """Lists of records with a ``customer_id``, restricted to the customers in the actor's scope."""

    def _scoped(self, query: Any) -> Any:
        ctx = self.ctx()
        if ctx.scope == "all":
            return query
        visible = scope_customers(ctx, _select_customer_ids())
        return query.filter(self.model.customer_id.in_(visible))

    def get_query(self) -> Any:
        return self._scoped(super().get_query())

    def get_count_query(self) -> Any:
        return self._scoped(super().get_count_query())


def _select_customer_ids() -> Any:
    from sqlalchemy import select

    from crmcore.models import Customer

    return select(Customer.id)


class FollowUpView(CustomerScopedView):
    permission = "service.followup.read"
    column_list = ("due_at", "customer", "source", "step", "state", "outcome", "done_at")
    column_filters = ("state",)
    column_default_sort = ("due_at", False)
    column_choices = {"state": list(FOLLOWUP_STATE_LABELS.items())}


class QualityView(SecureModelView):
    permission = "service.quality.read"
    column_list = ("reported_at", "kind", "product_code", "product_name", "severity", "state", "order_number",
                   "ticket_id", "root_cause", "corrective_action")
    column_filters = ("kind", "severity", "state", "product_code")
    column_choices = {name: list(labels.items()) for name, labels in QUALITY_LABELS.items()}
    column_default_sort = ("reported_at", True)


class CategoryView(SecureModelView):
    permission = "service.ticket.read"
    write_permission = "service.config.manage"
    column_list = ("name", "kind", "active")
    form_columns = ("name", "kind", "active")
    form_overrides = {"kind": SelectField}
    form_args = {"kind": {"choices": list(KIND_LABELS.items())}}
    service_validates = True

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return categories.save_category(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return categories.save_category(ctx, data, model.id)


class SlaPolicyView(SecureModelView):
    permission = "service.ticket.read"
    write_permission = "service.sla.manage"
    column_list = ("name", "priority", "customer_level", "first_response_minutes", "resolution_minutes", "calendar",
                   "active")
    form_columns = ("name", "priority", "customer_level", "first_response_minutes", "resolution_minutes", "active")
    # the minutes as typed: the service's schema reads them, with the API's words for a bad number
    form_overrides = {"priority": SelectField, "first_response_minutes": StringField,
                      "resolution_minutes": StringField}
    form_args = {"priority": {"choices": list(PRIORITY_LABELS.items())}}
    service_validates = True

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return sla.save_policy(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return sla.save_policy(ctx, data, model.id)


class CalendarView(SecureModelView):
    """Business-hours calendars (read here; written through the API, which validates the hours)."""

    permission = "service.ticket.read"
    column_list = ("name", "timezone", "weekly", "days")
    column_formatters = {
        "weekly": lambda v, c, m, n: "; ".join(f"{d}: " + ", ".join("-".join(span) for span in spans)
                                               for d, spans in sorted((m.weekly or {}).items()) if spans),
        "days": lambda v, c, m, n: ", ".join(f"{d.day} {DAY_KIND_LABELS.get(d.kind, d.kind)}" for d in m.days),
    }


@contextmanager
def errors_on_form_fields(names: dict[str, str]) -> Iterator[None]:
    """The service's field errors under the form's field names (``{"member_ids": "members"}``), so the form
    shows each next to its field."""
    try:
        yield
    except ValidationError as exc:
        raise ValidationError(exc.message, errors={names.get(k, k): v for k, v in exc.errors.items()}) from None


class AssignmentRuleForm(AdminForm):
    # the service checks the fields (validate_rule): the same rules and words as the API
    name = StringField(_l("Name"), render_kw={"required": True})
    category = QuerySelectField(_l("Category"), query_factory=active_categories, allow_blank=True, blank_text="—",
                                description=_l("Empty: every category"))
    strategy = SelectField(_l("Strategy"), choices=[("round_robin", _l("Round robin")),
                                                    ("least_loaded", _l("Least loaded")), ("fixed", _l("Fixed"))],
                           validate_choice=False)
    members = QuerySelectMultipleField(_l("Members"), query_factory=active_users, get_label=user_label,
                                       render_kw={"required": True})
    position = IntegerField(_l("Sort order"), default=100, validators=[Optional()])
    active = BooleanField(_l("Active"), default=True)


class AssignmentRuleView(SecureModelView):
    permission = "service.ticket.read"
    write_permission = "service.config.manage"
    form = AssignmentRuleForm
    column_list = ("position", "name", "category", "strategy", "member_ids", "active")
    column_labels = {"position": _l("Sort order"), "name": _l("Name"), "category": _l("Category"),
                     "strategy": _l("Strategy"), "member_ids": _l("Members"), "active": _l("Active")}
    column_default_sort = ("position", False)
    column_formatters = {"member_ids": lambda v, c, m, n: ", ".join(_user_names(m.member_ids))}

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        if obj is not None and not form.members.raw_data:
            form.members.data = [u for u in active_users() if u.id in (obj.member_ids or [])]
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return {"name": form.name.data, "strategy": form.strategy.data, "position": form.position.data or 100,
                "active": bool(form.active.data), "category_id": form.category.data.id if form.category.data else None,
                "member_ids": [u.id for u in form.members.data or []]}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        with errors_on_form_fields({"member_ids": "members"}):
            return assignment.save_rule(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        with errors_on_form_fields({"member_ids": "members"}):
            return assignment.save_rule(ctx, data, model.id)


def _user_names(ids: Any) -> list[str]:
    from crmcore.models import User

    users = {u.id: user_label(u) for u in service_context().session.scalars(select(User).where(User.id.in_(ids or [])))}
    return [users.get(i, str(i)) for i in ids or []]


class FollowUpRuleForm(AdminForm):
    # the service checks the fields (followups.validate_rule): the same rules and words as the API
    name = StringField(_l("Name"), render_kw={"required": True})
    trigger = SelectField(_l("After"), choices=[("ticket", _l("a resolved ticket")), ("order", _l("an order"))],
                          validate_choice=False)
    offsets = StringField(_l("Days after"), render_kw={"required": True}, description=_l("e.g. 3, 30, 90"))
    channel = SelectField(_l("Channel"), choices=[(c, CODE_LABELS[c]) for c in FOLLOWUP_CHANNELS],
                          validate_choice=False)
    active = BooleanField(_l("Active"), default=True)


class FollowUpRuleView(SecureModelView):
    permission = "service.followup.read"
    write_permission = "service.config.manage"
    form = FollowUpRuleForm
    column_list = ("name", "trigger", "offsets_days", "channel", "active")
    column_labels = {"name": _l("Name"), "trigger": _l("After"), "offsets_days": _l("Days after"),
                     "channel": _l("Channel"), "active": _l("Active")}

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        if obj is not None and not form.offsets.raw_data:
            form.offsets.data = ", ".join(f"{d:g}" for d in obj.offsets_days or [])
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        offsets: list[Any] = []
        for part in split_list(form.offsets.data):
            try:
                offsets.append(float(part) if "." in part else int(part))
            except ValueError:
                offsets = []  # the service says what is wrong
                break
        return {"name": form.name.data, "trigger": form.trigger.data, "offsets_days": offsets,
                "channel": form.channel.data, "active": bool(form.active.data)}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        with errors_on_form_fields({"offsets_days": "offsets"}):
            return followups.save_rule(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        with errors_on_form_fields({"offsets_days": "offsets"}):
            return followups.save_rule(ctx, data, model.id)


class TicketStateForm(AdminForm):
    # the service checks the fields (states.validate_state): the same rules and words on every path
    key = StringField(_l("Key"), render_kw={"required": True}, description=_l("Fixed once created"))
    name = StringField(_l("Name"), render_kw={"required": True})
    phase = SelectField(_l("Phase"), choices=[("open", _l("open: SLA clocks run")),
                                              ("paused", _l("paused: the resolution clock stops")),
                                              ("done", _l("done: clocks stop"))], validate_choice=False)
    position = StringField(_l("Sort order"), default="100")


class TicketStateView(SecureModelView):
    permission = "service.ticket.read"
    write_permission = "service.config.manage"
    form = TicketStateForm
    column_list = ("position", "key", "name", "phase")
    column_formatters = {"name": lambda v, c, m, n: gettext(m.name), "key": lambda v, c, m, n: typed_key(m.key)}
    column_labels = {"position": _l("Sort order"), "key": _l("Key (as typed)"), "name": _l("Name"), "phase": _l("Phase")}
    column_default_sort = ("position", False)

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        form.key.render_kw = {"readonly": True}
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return {"key": form.key.data, "name": form.name.data, "phase": form.phase.data,
                "position": (form.position.data or "").strip() or 100}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return states_svc.save_state(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return states_svc.save_state(ctx, data, model.id)


def state_keys() -> list[tuple[str, str]]:
    return [(k, gettext(s.name)) for k, s in states_svc.states(service_context()).items()]


def state_name(key: str | None) -> str:
    """A ticket state in the reader's words: its name (a default one through the catalogue), never its key."""
    state = states_svc.states(service_context()).get(key or "")
    return gettext(state.name) if state is not None else (key or "")


class TicketTransitionForm(AdminForm):
    from_state = SelectField(_l("From"), choices=[], validate_choice=False)
    to_state = SelectField(_l("To"), choices=[], validate_choice=False)
    roles = StringField(_l("Only for roles"), description=_l("Comma-separated role names; empty: every role"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.from_state.choices = self.to_state.choices = state_keys()


class TicketTransitionView(SecureModelView):
    permission = "service.ticket.read"
    write_permission = "service.config.manage"
    form = TicketTransitionForm
    column_list = ("from_state", "to_state", "roles")
    column_labels = {"from_state": _l("From"), "to_state": _l("To"), "roles": _l("Only for roles")}
    column_default_sort = ("from_state", False)
    column_formatters = {"roles": lambda v, c, m, n: ", ".join(m.roles or []),
                         "from_state": lambda v, c, m, n: state_name(m.from_state),
                         "to_state": lambda v, c, m, n: state_name(m.to_state)}

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        if obj is not None and not form.roles.raw_data:
            form.roles.data = ", ".join(obj.roles or [])
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return {"from_state": form.from_state.data, "to_state": form.to_state.data,
                "roles": split_list(form.roles.data)}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return states_svc.save_transition(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return states_svc.save_transition(ctx, data, model.id)

    def service_delete(self, ctx: ServiceContext, model: Any) -> None:
        states_svc.delete_transition(ctx, model.id)
