"""Model views of the sales records. Lists follow the record rules (a rep sees their own); every
create, edit, delete and action calls the same service as the API, so audit and events fire."""
from __future__ import annotations

from typing import Any

from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_admin.contrib.sqla.filters import FilterEqual
from markupsafe import Markup
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional

from crmcore.admin.forms import blank_to_none, user_label, visible_customers
from crmcore.admin.views import AdminForm, SecureModelView, badge, flash_crm_error, service_context
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l, local_money, local_time
from crmcore.runtime import ServiceContext

from ..models import (ACTIVITY_KINDS, ACTIVITY_STATUSES, LEAD_CHANNELS, LEAD_STATUSES, OPPORTUNITY_STATUSES,
                      QUOTE_STATUSES, Activity, Lead, Opportunity, Quote, Stage)
from ..services import access, activities, catalog, leads, opportunities, quotes, stages

STATUS_BADGES = {"open": "info", "won": "success", "lost": "secondary", "new": "info", "working": "warning",
                 "qualified": "success", "disqualified": "secondary", "draft": "light", "pending_approval": "warning",
                 "approved": "success", "rejected": "danger", "sent": "info", "accepted": "success",
                 "ordered": "primary", "planned": "info", "done": "success", "cancelled": "secondary",
                 "partial": "warning", "paid": "success", "confirmed": "primary", "delivered": "success"}


# The reader's words for the plugin's stored codes (statuses, kinds, channels, sources).
CODE_LABELS = {
    "new": _l("New"), "working": _l("Working"), "qualified": _l("Qualified"), "disqualified": _l("Disqualified"),
    "open": _l("Open"), "won": _l("Won"), "lost": _l("Lost"), "draft": _l("Draft"),
    "pending_approval": _l("Pending approval"), "approved": _l("Approved"), "rejected": _l("Rejected"),
    "sent": _l("Sent"), "accepted": _l("Accepted"), "declined": _l("Declined"), "ordered": _l("Ordered"),
    "cancelled": _l("Cancelled"), "confirmed": _l("Confirmed"), "delivered": _l("Delivered"),
    "partial": _l("Partly paid"), "paid": _l("Paid"), "planned": _l("Planned"), "done": _l("Done"),
    "success": _l("Success"), "failure": _l("Failure"), "task": _l("Task"), "call": _l("Call"), "visit": _l("Visit"),
    "crm": "CRM", "erp": "ERP", "import": _l("Import"), "web": _l("Web form"), "api": "API", "phone": _l("Phone"),
    "email": _l("E-mail"), "wechat": _l("WeChat"), "wecom": _l("WeCom"), "sms": _l("SMS"), "qq": "QQ", "weibo": _l("Weibo"),
    "trade_fair": _l("Trade fair"),
    "referral": _l("Referral"), "taobao": _l("Taobao"), "other": _l("Other"),
}


def code_label(value: str | None) -> str:
    """The reader's word for a stored code; an unknown code as it is."""
    label = CODE_LABELS.get(value or "")
    return str(label) if label is not None else (value or "").replace("_", " ")


def code_options(codes: Any) -> list[tuple[str, Any]]:
    """Filter options for stored codes, shown in the reader's words."""
    return [(c, CODE_LABELS.get(c, c)) for c in codes]


def status_badge(value: str | None) -> Markup:
    return badge(code_label(value), STATUS_BADGES.get(value or "", "secondary"))


def money(amount: Any, currency: str) -> str:
    """The amount in the reader's locale with its currency (``¥1,234.50``)."""
    return local_money(amount, currency)


def open_stages() -> list[Stage]:
    return [s for s in stages.list_stages(service_context()) if s.active]


class OwnedView(SecureModelView):
    """Lists restricted to records whose owner is in the actor's scope."""

    owner_column: str = "owner_id"

    def _visible(self, query: Any) -> Any:
        return access.scope_owned(self.ctx(), query, getattr(self.model, self.owner_column))

    def get_query(self) -> Any:
        return self._visible(super().get_query())

    def get_count_query(self) -> Any:
        return self._visible(super().get_count_query())

    def _run(self, ids: list[str], call: Any, done: Any) -> None:
        """Run ``call`` on each selected record; ``done(n)`` is the success message for ``n`` of them."""
        ctx, n = self.ctx(), 0
        for raw in ids:
            try:
                call(ctx, int(raw))
                n += 1
            except CRMError as exc:
                ctx.session.rollback()
                flash_crm_error(exc)
        if n:
            flash(done(n), "success")


# --- leads -------------------------------------------------------------------------------------

class LeadForm(AdminForm):
    # no rules of its own: the service's validation (LeadSchema) answers, as it does the API and the import
    name = StringField(_l("Name"), render_kw={"required": True})
    company = StringField(_l("Company"))
    contact_name = StringField(_l("Contact"))
    phone = StringField(_l("Phone"))
    email = StringField(_l("E-mail"))
    wechat = StringField(_l("WeChat"))
    source_channel = SelectField(_l("Source channel"), choices=code_options(LEAD_CHANNELS), default="phone",
                                 validate_choice=False)
    campaign = StringField(_l("Campaign"))
    estimated_amount = StringField(_l("Estimated amount"), render_kw={"inputmode": "decimal"})
    message = TextAreaField(_l("Message"))


class LeadView(OwnedView):
    permission = "sales.lead.read"
    write_permission = "sales.lead.write"
    form = LeadForm
    can_view_details = True
    column_list = ("created_at", "name", "company", "source_channel", "status", "owner_id", "customer_id")
    column_labels = {"created_at": _l("Created"), "name": _l("Name"), "company": _l("Company"),
                     "source_channel": _l("Source"), "status": _l("Status"), "owner_id": _l("Owner"),
                     "customer_id": _l("Customer")}
    column_searchable_list = ("name", "company", "email", "phone")
    column_filters = (FilterEqual(Lead.status, _l("Status"), options=code_options(LEAD_STATUSES)),
                      FilterEqual(Lead.source_channel, _l("Source"), options=code_options(LEAD_CHANNELS)))
    column_default_sort = ("created_at", True)
    column_formatters = {"status": lambda v, c, m, n: status_badge(m.status),
                         "source_channel": lambda v, c, m, n: code_label(m.source_channel),
                         "created_at": lambda v, c, m, n: local_time(m.created_at)}

    def _visible(self, query: Any) -> Any:
        return leads._scope(self.ctx(), query)

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return {k: blank_to_none(f.data) for k, f in form._fields.items() if k != "csrf_token"}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Lead:
        return leads.create_lead(ctx, data, source_channel=data.get("source_channel"))

    def service_update(self, ctx: ServiceContext, model: Lead, data: dict[str, Any]) -> Lead:
        return leads.update_lead(ctx, model.id, data)

    @action("qualify", _l("Qualify"), _l("Turn the selected leads into customers and opportunities?"))
    def action_qualify(self, ids: list[str]) -> None:
        self._run(ids, lambda ctx, i: leads.qualify_lead(ctx, i),
                  lambda n: gettext("%(n)s lead(s) qualified.", n=n))


# --- opportunities and stages ------------------------------------------------------------------

class OpportunityForm(AdminForm):
    # no rules of its own for the fields: the service's validation (OpportunitySchema) answers
    name = StringField(_l("Name"), render_kw={"required": True})
    customer = QuerySelectField(_l("Customer"), query_factory=visible_customers, validators=[DataRequired()])
    stage = QuerySelectField(_l("Stage"), query_factory=open_stages, validators=[DataRequired()])
    amount = StringField(_l("Amount"), render_kw={"inputmode": "decimal"})
    currency = StringField(_l("Currency"))
    expected_close_date = DateField(_l("Expected close"), validators=[Optional()])
    probability = StringField(_l("Probability %"), render_kw={"inputmode": "numeric"},
                              description=_l("Empty: the stage's probability"))
    lost_reason = StringField(_l("Lost reason"))
    competitor = StringField(_l("Competitor"))
    notes = TextAreaField(_l("Notes"))


class OpportunityView(OwnedView):
    permission = "sales.opportunity.read"
    write_permission = "sales.opportunity.write"
    form = OpportunityForm
    can_view_details = True
    column_list = ("name", "customer", "stage", "status", "amount", "probability", "expected_close_date", "owner")
    column_labels = {"name": _l("Name"), "customer": _l("Customer"), "stage": _l("Stage"), "status": _l("Status"),
                     "amount": _l("Amount"), "probability": _l("Probability %"),
                     "expected_close_date": _l("Expected close"), "owner": _l("Owner")}
    column_searchable_list = ("name", "competitor")
    column_sortable_list = ("name", "amount", "probability", "expected_close_date")
    column_default_sort = ("expected_close_date", False)
    column_filters = (FilterEqual(Opportunity.status, _l("Status"), options=code_options(OPPORTUNITY_STATUSES)),
                      FilterEqual(Opportunity.stage_id, _l("Stage")))
    column_formatters = {"status": lambda v, c, m, n: status_badge(m.status),
                         "amount": lambda v, c, m, n: money(m.amount, m.currency),
                         "stage": lambda v, c, m, n: m.stage.name,
                         "customer": lambda v, c, m, n: m.customer.name if m.customer else "",
                         "owner": lambda v, c, m, n: user_label(m.owner) if m.owner else ""}

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        form.customer.render_kw = {"disabled": True}
        return form

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = {k: blank_to_none(getattr(form, k).data) for k in ("name", "amount", "currency", "expected_close_date",
                                                                  "probability", "lost_reason", "competitor", "notes")}
        data["stage_id"] = form.stage.data.id if form.stage.data else None
        if model is None:
            data["customer_id"] = form.customer.data.id if form.customer.data else None
        for key in ("amount", "currency", "probability"):
            if data[key] is None:
                data.pop(key)
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Opportunity:
        return opportunities.create_opportunity(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Opportunity, data: dict[str, Any]) -> Opportunity:
        return opportunities.update_opportunity(ctx, model.id, data)


class StageForm(AdminForm):
    # no rules of its own: the service's validation (StageSchema) answers, as it does the API
    name = StringField(_l("Name"), render_kw={"required": True})
    sequence = IntegerField(_l("Sort order"), default=50)
    probability = StringField(_l("Probability %"), default="50", render_kw={"inputmode": "numeric"})
    is_won = BooleanField(_l("Won"))
    is_lost = BooleanField(_l("Lost"))
    active = BooleanField(_l("Active"), default=True)


class StageView(SecureModelView):
    permission = "sales.stage.manage"
    form = StageForm
    column_list = ("sequence", "name", "probability", "is_won", "is_lost", "active")
    column_labels = {"sequence": _l("Sort order"), "name": _l("Name"), "probability": _l("Probability %"),
                     "is_won": _l("Won"), "is_lost": _l("Lost"), "active": _l("Active")}
    column_default_sort = ("sequence", False)

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Stage:
        return stages.create_stage(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Stage, data: dict[str, Any]) -> Stage:
        return stages.update_stage(ctx, model.id, data)

    def service_delete(self, ctx: ServiceContext, model: Stage) -> None:
        stages.delete_stage(ctx, model.id)


# --- catalogue, quotes, orders, invoices ---------------------------------------------------------

class ProductForm(AdminForm):
    # no rules of its own: the service's validation (ProductSchema) answers, as it does the API and the import
    code = StringField(_l("Code"), render_kw={"required": True})
    name = StringField(_l("Name"), render_kw={"required": True})
    category = StringField(_l("Category"))
    unit = StringField(_l("Unit"), default="pcs")
    list_price = StringField(_l("List price"), default="0", render_kw={"required": True, "inputmode": "decimal"})
    currency = StringField(_l("Currency"), default="CNY")
    cost = StringField(_l("Cost"), render_kw={"inputmode": "decimal"})
    active = BooleanField(_l("Active"), default=True)
    description = TextAreaField(_l("Description"))


class ProductView(SecureModelView):
    permission = "sales.product.read"
    write_permission = "sales.product.write"
    form = ProductForm
    column_list = ("code", "name", "category", "list_price", "currency", "active", "source")
    column_labels = {"code": _l("Code"), "name": _l("Name"), "category": _l("Category"),
                     "list_price": _l("List price"), "currency": _l("Currency"), "active": _l("Active"),
                     "source": _l("Source")}
    column_searchable_list = ("code", "name", "category")
    column_formatters = {"source": lambda v, c, m, n: code_label(m.source)}

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = {k: blank_to_none(f.data) for k, f in form._fields.items() if k != "csrf_token"}
        if data["currency"] is None:
            data.pop("currency")  # empty: the base currency (new) or the one it has
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Any:
        return catalog.create_product(ctx, data)

    def service_update(self, ctx: ServiceContext, model: Any, data: dict[str, Any]) -> Any:
        return catalog.update_product(ctx, model.id, data)


class QuoteView(OwnedView):
    """Quotes are written through the API (lines); here they are read, submitted and decided."""

    permission = "sales.quote.read"
    can_view_details = True
    column_list = ("number", "customer", "status", "total", "effective_discount_percent",
                   "max_line_discount_percent", "created_at")
    column_labels = {"number": _l("Number"), "customer": _l("Customer"), "status": _l("Status"),
                     "total": _l("Total"), "effective_discount_percent": _l("Discount %"),
                     "max_line_discount_percent": _l("Largest line discount %"), "created_at": _l("Created")}
    column_filters = (FilterEqual(Quote.status, _l("Status"), options=code_options(QUOTE_STATUSES)),)
    column_default_sort = ("created_at", True)
    column_formatters = {"status": lambda v, c, m, n: status_badge(m.status),
                         "total": lambda v, c, m, n: money(m.total, m.currency),
                         "customer": lambda v, c, m, n: m.customer.name if m.customer else "",
                         "created_at": lambda v, c, m, n: m.created_at.strftime("%Y-%m-%d")}

    @action("submit", _l("Submit"))
    def action_submit(self, ids: list[str]) -> None:
        self._run(ids, quotes.submit_quote, lambda n: gettext("%(n)s quote(s) submitted.", n=n))

    @action("approve", _l("Approve"), _l("Approve the selected quotes?"))
    def action_approve(self, ids: list[str]) -> None:
        self._run(ids, lambda ctx, i: quotes.approve_quote(ctx, i, gettext("Approved in the admin")),
                  lambda n: gettext("%(n)s quote(s) approved.", n=n))


class OrderView(SecureModelView):
    permission = "sales.order.read"
    can_view_details = True
    column_list = ("number", "order_date", "customer", "status", "total", "source")
    column_labels = {"number": _l("Number"), "order_date": _l("Date"), "customer": _l("Customer"),
                     "status": _l("Status"), "total": _l("Total"), "source": _l("Source"),
                     "coupon_code": _l("Coupon"), "coupon_discount": _l("Coupon discount")}
    column_default_sort = ("order_date", True)
    column_searchable_list = ("number",)
    column_formatters = {"status": lambda v, c, m, n: status_badge(m.status),
                         "total": lambda v, c, m, n: money(m.total, m.currency),
                         "customer": lambda v, c, m, n: m.customer.name if m.customer else "",
                         "source": lambda v, c, m, n: code_label(m.source),
                         "coupon_discount": lambda v, c, m, n: money(m.coupon_discount, m.currency)
                         if m.coupon_discount else ""}

    def _visible(self, query: Any) -> Any:
        from ..services.orders import _scope

        return _scope(self.ctx(), query, self.model)

    def get_query(self) -> Any:
        return self._visible(super().get_query())

    def get_count_query(self) -> Any:
        return self._visible(super().get_count_query())


class InvoiceView(OrderView):
    column_list = ("number", "invoice_date", "due_date", "customer_id", "state", "amount_total", "amount_paid")
    column_labels = {"number": _l("Number"), "invoice_date": _l("Date"), "due_date": _l("Due"),
                     "customer_id": _l("Customer"), "state": _l("State"), "amount_total": _l("Total"),
                     "amount_paid": _l("Paid")}
    column_default_sort = ("due_date", True)
    column_formatters = {"state": lambda v, c, m, n: status_badge(m.state),
                         "amount_total": lambda v, c, m, n: money(m.amount_total, m.currency),
                         "amount_paid": lambda v, c, m, n: money(m.amount_paid, m.currency),
                         "source": lambda v, c, m, n: code_label(m.source)}


# --- activities, plans, metrics ----------------------------------------------------------------------

class ActivityForm(AdminForm):
    # no rules of its own for the fields: the service's validation (ActivitySchema) answers
    kind = SelectField(_l("Kind"), choices=code_options(ACTIVITY_KINDS), validate_choice=False)
    subject = StringField(_l("Subject"), render_kw={"required": True})
    customer = QuerySelectField(_l("Customer"), query_factory=visible_customers, validators=[DataRequired()])
    notes = TextAreaField(_l("Notes"))


class ActivityView(OwnedView):
    permission = "sales.activity.read"
    write_permission = "sales.activity.write"
    form = ActivityForm
    column_list = ("kind", "subject", "customer_id", "due_at", "status", "outcome", "done_at")
    column_labels = {"kind": _l("Kind"), "subject": _l("Subject"), "customer_id": _l("Customer"),
                     "due_at": _l("Due"), "status": _l("Status"), "outcome": _l("Outcome"), "done_at": _l("Done")}
    column_filters = (FilterEqual(Activity.kind, _l("Kind"), options=code_options(ACTIVITY_KINDS)),
                      FilterEqual(Activity.status, _l("Status"), options=code_options(ACTIVITY_STATUSES)))
    column_formatters = {"status": lambda v, c, m, n: status_badge(m.status),
                         "kind": lambda v, c, m, n: code_label(m.kind),
                         "outcome": lambda v, c, m, n: code_label(m.outcome) if m.outcome else ""}

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        return {"kind": form.kind.data, "subject": form.subject.data, "notes": blank_to_none(form.notes.data),
                "customer_id": form.customer.data.id if form.customer.data else None}

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> Activity:
        return activities.create_activity(ctx, data)

    @action("done_success", _l("Done (visit succeeded)"))
    def action_done_success(self, ids: list[str]) -> None:
        self._run(ids, lambda ctx, i: activities.complete_activity(ctx, i, {"outcome": "success"}),
                  lambda n: gettext("%(n)s activity(ies) done.", n=n))

    @action("done_failure", _l("Done (visit failed)"))
    def action_done_failure(self, ids: list[str]) -> None:
        self._run(ids, lambda ctx, i: activities.complete_activity(ctx, i, {"outcome": "failure"}),
                  lambda n: gettext("%(n)s activity(ies) done.", n=n))
