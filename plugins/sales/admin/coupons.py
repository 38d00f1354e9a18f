"""Admin pages of coupons: programmes (a form of words and pick lists), their codes generated in batches or
issued to a customer picked by name, and the usage report per programme with its CSV."""
from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, request, url_for
from flask_admin import expose
from markupsafe import Markup
from sqlalchemy import select
from wtforms import BooleanField, DateField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Optional

from crmcore.admin.forms import blank_to_none, visible_customers
from crmcore.admin.views import AdminForm, SecureModelView, SecureView, flash_crm_error
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l, local_money
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.schemas.common import db_id

from ..models import Product
from ..models_coupons import CouponProgramme
from ..services import coupons

CODE_KIND_WORDS = {"single": _l("Single-use codes"), "multi": _l("One shared code, used many times")}
DISCOUNT_KIND_WORDS = {"amount": _l("Money off"), "percent": _l("Percentage off")}


def discount_words(p: CouponProgramme) -> str:
    """``15%`` or ``¥20.00`` in the reader's locale."""
    return f"{p.amount.normalize():f}%" if p.discount_kind == "percent" else local_money(p.amount, p.currency)


def _validity(p: CouponProgramme) -> str:
    start = p.valid_from.isoformat() if p.valid_from else "…"
    end = p.valid_until.isoformat() if p.valid_until else "…"
    return "" if p.valid_from is None and p.valid_until is None else f"{start} – {end}"


def _product_choices(ctx: ServiceContext) -> list[tuple[str, str]]:
    return [(str(p.id), str(p)) for p in ctx.session.scalars(
        select(Product).where(Product.active.is_(True)).order_by(Product.name).limit(2000))]


def _category_choices(ctx: ServiceContext) -> list[tuple[str, str]]:
    names = ctx.session.scalars(select(Product.category).where(Product.category.is_not(None)).distinct()
                                .order_by(Product.category))
    return [(c, c) for c in names if c]


class ProgrammeForm(AdminForm):
    name = StringField(_l("Name"), render_kw={"required": True})
    description = TextAreaField(_l("Description"))
    code_kind = SelectField(_l("Codes"), choices=list(CODE_KIND_WORDS.items()), default="single")
    discount_kind = SelectField(_l("Discount"), choices=list(DISCOUNT_KIND_WORDS.items()), default="amount")
    amount = StringField(_l("Amount or percentage"), render_kw={"required": True, "inputmode": "decimal"})
    currency = StringField(_l("Currency"), render_kw={"maxlength": 3})
    min_spend = StringField(_l("Minimum spend"), render_kw={"inputmode": "decimal"})
    product_ids = SelectMultipleField(_l("Only for these products"), choices=[], validate_choice=False)
    categories = SelectMultipleField(_l("Only for these product categories"), choices=[], validate_choice=False)
    valid_from = DateField(_l("Valid from"), validators=[Optional()])
    valid_until = DateField(_l("Valid until"), validators=[Optional()])
    per_customer_limit = IntegerField(_l("Uses per customer (empty: no limit)"), validators=[Optional()])
    usage_limit = IntegerField(_l("Uses in all (empty: no limit)"), validators=[Optional()])
    active = BooleanField(_l("Open (codes can be used)"), default=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from crmcore.admin.views import service_context

        ctx = service_context()
        self.product_ids.choices = _product_choices(ctx)
        self.categories.choices = _category_choices(ctx)


def _codes_link(view: Any, context: Any, model: CouponProgramme, name: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(url_for("sales_coupon_codes.index", programme_id=model.id),
                                                gettext("Codes and usage"))


class CouponProgrammeView(SecureModelView):
    permission = "sales.coupon.read"
    write_permission = "sales.coupon.manage"
    form = ProgrammeForm
    can_view_details = True
    column_list = ("name", "code_kind", "discount_kind", "amount", "validity", "active", "codes")
    column_details_list = ("name", "description", "code_kind", "amount", "min_spend", "product_ids", "categories",
                           "validity", "per_customer_limit", "usage_limit", "active", "codes")
    column_labels = {"name": _l("Name"), "description": _l("Description"), "code_kind": _l("Codes"),
                     "discount_kind": _l("Discount"), "amount": _l("Discount"), "min_spend": _l("Minimum spend"),
                     "product_ids": _l("Only for these products"), "categories": _l("Only for these product categories"),
                     "validity": _l("Valid"), "per_customer_limit": _l("Uses per customer"),
                     "usage_limit": _l("Uses in all"), "active": _l("Open"), "codes": _l("Codes and usage")}
    column_formatters = {"code_kind": lambda v, c, m, n: str(CODE_KIND_WORDS.get(m.code_kind, m.code_kind)),
                         "discount_kind": lambda v, c, m, n: str(DISCOUNT_KIND_WORDS.get(m.discount_kind, "")),
                         "amount": lambda v, c, m, n: discount_words(m),
                         "validity": lambda v, c, m, n: _validity(m), "codes": _codes_link}
    column_formatters_detail = {
        **column_formatters,
        "min_spend": lambda v, c, m, n: local_money(m.min_spend, m.currency) if m.min_spend is not None else "",
        "product_ids": lambda v, c, m, n: ", ".join(
            str(p) for p in (v.session.get(Product, i) for i in m.product_ids or []) if p is not None),
        "categories": lambda v, c, m, n: ", ".join(m.categories or [])}
    column_default_sort = ("name", False)
    column_searchable_list = ("name",)

    def on_form_prefill(self, form: Any, id: Any) -> None:
        model = self.get_one(id)
        if model is not None:
            form.product_ids.data = [str(i) for i in model.product_ids or []]
            form.categories.data = list(model.categories or [])
            form.amount.data = f"{model.amount:f}"
            form.min_spend.data = f"{model.min_spend:f}" if model.min_spend is not None else ""

    def form_to_data(self, form: Any, model: Any = None) -> dict[str, Any]:
        data = {k: blank_to_none(form[k].data) for k in ("name", "description", "code_kind", "discount_kind", "amount",
                                                          "currency", "min_spend", "valid_from", "valid_until",
                                                          "per_customer_limit", "usage_limit")}
        if model is None and data["currency"] is None:
            data.pop("currency")
        data["active"] = bool(form.active.data)
        data["product_ids"] = [int(i) for i in form.product_ids.data or [] if str(i).isdigit()]
        data["categories"] = list(form.categories.data or [])
        for key in ("valid_from", "valid_until"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data

    def service_create(self, ctx: ServiceContext, data: dict[str, Any]) -> CouponProgramme:
        return coupons.save_programme(ctx, data)

    def service_update(self, ctx: ServiceContext, model: CouponProgramme, data: dict[str, Any]) -> CouponProgramme:
        return coupons.save_programme(ctx, data, model.id)


class CouponCodesView(SecureView):
    """A programme's codes with their customers and uses, the form that generates a batch or issues a code to
    a customer, and the usage report of every programme (with its CSV)."""

    permission = "sales.coupon.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        programme_id = request.args.get("programme_id", type=db_id)
        programmes = coupons.list_programmes(ctx, page_size=500)[0]
        programme = next((p for p in programmes if p.id == programme_id), None)
        codes, total, uses, names = [], 0, {}, {}
        if programme is not None:
            codes, total = coupons.list_coupons(ctx, programme.id, page_size=200)
            uses = coupons.code_uses(ctx, [c.id for c in codes])
            ids = {c.customer_id for c in codes if c.customer_id}
            names = {c.id: c.name for c in ctx.session.scalars(select(Customer).where(Customer.id.in_(ids)))} \
                if ids else {}
        can_manage = ctx.can("sales.coupon.manage")
        customers = [(str(c.id), c.name) for c in visible_customers()] if can_manage and programme is not None else []
        return self.render("admin/sales/coupon_codes.html", programmes=programmes, programme=programme, codes=codes,
                           total=total, uses=uses, names=names, customers=customers, can_manage=can_manage,
                           report=coupons.usage(ctx), discount_words=discount_words,
                           code_kind_words=CODE_KIND_WORDS)

    @expose("/generate", methods=["POST"])
    def generate(self) -> Any:
        ctx = self.ctx()
        programme_id = request.form.get("programme_id", type=db_id)
        data: dict[str, Any] = {"count": request.form.get("count") or 1,
                                "customer_id": request.form.get("customer_id", type=db_id),
                                "code": blank_to_none(request.form.get("code")),
                                "batch": blank_to_none(request.form.get("batch"))}
        try:
            count = data["count"]
            data["count"] = int(count) if str(count).strip().isdigit() else count
            made = coupons.generate_codes(ctx, programme_id or 0, data)
            flash(gettext("%(n)s code(s) generated.", n=len(made)), "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return redirect(url_for(".index", programme_id=programme_id))

    @expose("/usage.csv")
    def usage_csv(self) -> Any:
        body = coupons.usage_csv(self.ctx(), request.args.get("programme_id", type=db_id))
        return Response(body, mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=coupon-usage.csv"})
