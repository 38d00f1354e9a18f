"""Message templates in the admin: list, a form (subject, HTML, text) with the service's errors next to each
part, and a preview rendered for a customer picked by name."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from jinja2 import TemplateError
from sqlalchemy import select

from crmcore.admin.views import SecureView
from crmcore.errors import CRMError, ValidationError
from crmcore.i18n import gettext
from crmcore.models import Address, Contact
from crmcore.runtime import ServiceContext

from ..labels import VARIABLES as VARIABLE_WORDS
from ..services import campaigns as campaign_svc
from ..services import templates as svc
from . import translations
from .common import CHANNEL_LABELS, field_errors, find_customers

FIELDS = ("name", "subject", "html", "text")


def preview_for(ctx: ServiceContext, template: Any, customer: Any) -> dict[str, Any]:
    """Subject, HTML and text of ``template`` for ``customer`` as a send renders them (the primary contact, else
    the customer; the primary address's city); links shown as '#': nothing is tracked."""
    from ..services.recommend import best_sellers

    contact = ctx.session.scalar(select(Contact.name).where(Contact.customer_id == customer.id)
                                 .order_by(Contact.is_primary.desc(), Contact.id).limit(1))
    city = ctx.session.scalar(select(Address.city).where(Address.customer_id == customer.id, Address.city.is_not(None))
                              .order_by(Address.is_primary.desc(), Address.id).limit(1))
    variables = {"customer": {"name": customer.name, "code": customer.code, "city": city or ""},
                 "contact": {"name": contact or customer.name},
                 "company": {"name": str(ctx.settings.get("COMPANY_NAME") or "")},
                 "recommendations": campaign_svc.recommendations(ctx, customer.id),
                 "best_sellers": best_sellers(ctx, customer.id) if ctx.can("sales.product.read") else [],
                 "unsubscribe_url": "#", "preferences_url": "#"}
    return svc.render(template, variables)


class TemplatesView(SecureView):
    """Templates: list, form, preview."""

    permission = "marketing.read"
    write_permission = "marketing.manage"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        return self.render("marketing/admin/templates.html", rows=svc.list_templates(ctx), channels=CHANNEL_LABELS,
                           can_manage=ctx.can("marketing.manage"))

    @expose("/new", methods=["GET", "POST"])
    @expose("/<int:template_id>", methods=["GET", "POST"])
    def edit(self, template_id: int | None = None) -> Any:
        ctx = self.ctx()
        try:
            template = svc.get_template(ctx, template_id) if template_id else None
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        data = {f: getattr(template, f) for f in FIELDS} if template else {f: "" for f in FIELDS}
        errors: dict[str, list[str]] = {}
        rows = translations.rows_of(ctx, template.id if template else None)
        if request.method == "POST":
            if not ctx.can("marketing.manage"):
                return self.forbidden()
            data = {f: request.form.get(f) or None for f in FIELDS}
            rows = translations.rows_from(request.form)
            try:
                errors = translations.check(ctx, rows)  # the translations checked before the template is saved
                if errors:
                    try:
                        svc.validate_template(ctx, data, template)
                    except CRMError as exc:
                        errors.update(field_errors(exc))
                    raise ValidationError(gettext("The translation is not valid."))
                template = svc.create_template(ctx, data) if template is None else \
                    svc.update_template(ctx, template.id, data)
                translations.save(ctx, template.id, rows)
                flash(gettext("Template '%(name)s' saved.", name=template.name), "success")
                return redirect(url_for(".edit", template_id=template.id))
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")
                errors = {**errors, **field_errors(exc)}
        query = request.args.get("customer", "")
        found = find_customers(ctx, query) if template is not None else []
        picked = next((c for c in found if str(c.id) == request.args.get("customer_id")), found[0] if found else None)
        rendered, problem = None, None
        if template is not None and picked is not None and not errors:
            try:
                rendered = preview_for(ctx, template, picked)
            except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:  # a filter fails on this value
                problem = gettext("The template cannot be rendered for this customer: %(error)s", error=str(exc))
        return self.render("marketing/admin/template.html", tpl=template, data=data, errors=errors, rows=rows,
                           new_languages=translations.language_choices([r["language"] for r in rows]),
                           query=query, found=found, picked=picked, rendered=rendered, problem=problem,
                           variables=[(name, VARIABLE_WORDS.get(name, "")) for name in
                                      [*(f"{k}.{a}" for k, attrs in svc.VARIABLES.items() for a in attrs),
                                       *(k for k, attrs in svc.VARIABLES.items() if not attrs)]],
                           can_manage=ctx.can("marketing.manage"))
