"""Quotes in the admin as documents: create and edit with lines (products from the price list, totals
computed as you type by a small script the app serves; the quote service recomputes and decides), the
quote as a document (lines, totals, status, approval history) and its printable page."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flask import abort, flash, make_response, redirect, request, send_from_directory, url_for
from flask_admin import expose
from sqlalchemy import select

from crmcore.admin.forms import source_label, user_label, visible_customers
from crmcore.admin.views import flash_crm_error
from crmcore.errors import CRMError, NotFound, PermissionDenied
from crmcore.services.validation import flat_errors
from crmcore.i18n import gettext, lazy_gettext as _l
from crmcore.models import User
from crmcore.runtime import ServiceContext
from crmcore.schemas.common import db_id
from crmcore.services import approval_inbox

from ..models import PriceList, PriceListItem, Product, Quote
from ..services import quotes
from .records import QuoteView, code_label, status_badge

STATIC = Path(__file__).resolve().parent.parent / "static"
MAX_LINES = 200
BLANK_LINES = 3  # empty rows the form offers (without JavaScript, the way to add lines)
_LINE_KEY = re.compile(r"^lines-(\d{1,3})-(product_id|description|quantity|unit_price|discount_percent)$")
DECISIONS = {"submitted": _l("Submitted"), "approved": _l("Approved"), "rejected": _l("Rejected"),
             "step_completed": _l("Step completed"), "withdrawn": _l("Withdrawn"), "revoked": _l("Revoked"),
             "compensated": _l("Put back"), "escalated": _l("Escalated"), "reminded": _l("Reminded"),
             "restarted": _l("Restarted")}


def lines_from_form(form: Any) -> list[dict[str, Any]]:
    """The quote's lines from the form's ``lines-<i>-<field>`` inputs, in order; blank rows left out."""
    rows: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = _LINE_KEY.match(key)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value.strip()
    lines = []
    for i in sorted(rows)[:MAX_LINES]:
        row = rows[i]
        if not any(row.get(k) for k in ("product_id", "description", "unit_price")):
            continue
        line: dict[str, Any] = {"product_id": db_id(row.get("product_id")) if row.get("product_id") else None,
                                "description": row.get("description") or None,
                                "quantity": row.get("quantity") or "1",
                                "discount_percent": row.get("discount_percent") or "0"}
        if row.get("unit_price"):
            line["unit_price"] = row["unit_price"]
        lines.append(line)
    return lines


def header_from_form(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"discount_percent": form.get("discount_percent") or "0",
                            "valid_until": form.get("valid_until") or None, "notes": form.get("notes") or None,
                            "price_list_id": db_id(form.get("price_list_id")) if form.get("price_list_id") else None}
    if form.get("customer_id"):
        data["customer_id"] = db_id(form.get("customer_id"))
    return data


def price_map(ctx: ServiceContext) -> dict[str, Any]:
    """What the form's script needs to price a line: each active product's list price and currency, and
    each active price list's prices (``{"": {product: [price, currency]}, "<list id>": {...}}``)."""
    products = ctx.session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.name)).all()
    out: dict[str, Any] = {"": {str(p.id): [str(p.list_price), p.currency, p.name] for p in products}}
    for item in ctx.session.scalars(select(PriceListItem).join(PriceList).where(PriceList.active.is_(True))):
        out.setdefault(str(item.price_list_id), {})[str(item.product_id)] = [str(item.price), item.price_list.currency]
    return out


class QuoteDocumentView(QuoteView):
    """Quotes: the list (as before), the document, the editor with lines and the printable page."""

    can_create = True
    can_edit = True

    def _editable(self, quote: Quote | None) -> bool:
        return self.ctx().can("sales.quote.write") and (quote is None or quote.status in quotes.EDITABLE)

    @expose("/quote-form.js")
    def script(self) -> Any:
        """The editor's script, served by the app (no CDN)."""
        return send_from_directory(STATIC, "quote-form.js", mimetype="text/javascript", max_age=3600)

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self) -> Any:
        return self._editor(None)

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self) -> Any:
        return self._editor(self._quote_or_abort(request.args.get("id"), "sales.quote.write"))

    def _quote_or_abort(self, raw_id: Any, permission: str = "sales.quote.read") -> Quote:
        try:
            quote_id = db_id(raw_id)
        except (TypeError, ValueError):
            abort(404)
        try:
            return quotes.get_quote(self.ctx(), quote_id, permission=permission)
        except NotFound:
            abort(404)
        except PermissionDenied as exc:
            abort(make_response(self.forbidden(exc.message)))

    def _editor(self, quote: Quote | None) -> Any:
        ctx = self.ctx()
        if not self._editable(quote):
            if not ctx.can("sales.quote.write"):
                return self.forbidden()
            flash(gettext("The quote is %(status)s; it cannot be changed now.", status=code_label(quote.status if quote
                                                                                                   else None)), "error")
            return redirect(self.get_url(".details_view", id=quote.id if quote else None))
        errors: dict[str, Any] = {}
        form: dict[str, Any] = {}
        if request.method == "POST":
            form = request.form.to_dict()
            try:
                data = {**header_from_form(request.form), "lines": lines_from_form(request.form)}
                if quote is None:
                    quote = quotes.create_quote(ctx, data)
                else:
                    data.pop("customer_id", None)
                    quote = quotes.update_quote(ctx, quote.id, data,
                                                expected_version=request.form.get("version", type=db_id))
                flash(gettext("Quote %(number)s saved.", number=quote.number), "success")
                return redirect(self.get_url(".details_view", id=quote.id))
            except ValueError:  # a choice that is not one of the form's (a tampered or stale form)
                flash(gettext("The form is not complete."), "error")
            except CRMError as exc:
                ctx.session.rollback()
                flash_crm_error(exc)
                errors = flat_errors(exc.errors or {})  # lines' errors by dotted path, as the form names them
        rows = self._rows(quote, form)
        lists = ctx.session.scalars(select(PriceList).where(PriceList.active.is_(True)).order_by(PriceList.name)).all()
        products = ctx.session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.name)).all()
        return self.render("admin/sales/quote_form.html", quote=quote, rows=rows, form=form, errors=errors,
                           customers=visible_customers() if quote is None else [], price_lists=lists,
                           products=products, prices=json.dumps(price_map(ctx)),
                           return_url=self.get_url(".index_view"))

    @staticmethod
    def _rows(quote: Quote | None, form: dict[str, Any]) -> list[dict[str, Any]]:
        """The editor's rows: as posted (after an error), else the quote's lines; then blank rows."""
        if form:
            indexes = sorted({int(m.group(1)) for m in map(_LINE_KEY.match, form) if m})
            rows = [{k: form.get(f"lines-{i}-{k}", "") for k in ("product_id", "description", "quantity", "unit_price",
                                                                  "discount_percent")} for i in indexes]
            rows = [r for r in rows if any(r[k] for k in ("product_id", "description", "unit_price"))]
        elif quote is not None:
            rows = [{"product_id": str(ln.product_id or ""), "description": ln.description, "quantity": str(ln.quantity),
                     "unit_price": str(ln.unit_price), "discount_percent": str(ln.discount_percent)}
                    for ln in quote.lines]
        else:
            rows = []
        return rows + [{"product_id": "", "description": "", "quantity": "", "unit_price": "", "discount_percent": ""}
                       for _ in range(BLANK_LINES)]

    @expose("/details/")
    def details_view(self) -> Any:
        quote = self._quote_or_abort(request.args.get("id"))
        return self.render("admin/sales/quote_document.html", **self._document(quote),
                           return_url=self.get_url(".index_view"))

    @expose("/print/")
    def print_view(self) -> Any:
        """The quote as a page of its own, to print or save as PDF from the browser."""
        quote = self._quote_or_abort(request.args.get("id"))
        return self.render("admin/sales/quote_print.html", **self._document(quote))

    def _document(self, quote: Quote) -> dict[str, Any]:
        ctx = self.ctx()
        owner = ctx.session.get(User, quote.owner_id) if quote.owner_id else None
        return {"quote": quote, "owner": user_label(owner) if owner else "", "status": status_badge(quote.status),
                "status_label": code_label(quote.status), "approvals": approval_inbox.history(ctx, "quote", quote.id),
                "decision_label": lambda code: str(DECISIONS.get(code, code.replace("_", " "))),
                "request_label": lambda code: str(approval_inbox.STATUSES.get(code, code)),
                # a person by name; the system (a job, the CLI, an OA callback) in the reader's words
                "who": lambda d: d.actor_label if d.actor_id else source_label(d.actor_label),
                "can_edit": self._editable(quote), "can_submit": ctx.can("sales.quote.write") and quote.status == "draft"}

    @expose("/submit/", methods=("POST",))
    def submit_view(self) -> Any:
        quote_id = request.args.get("id", type=db_id)
        ctx = self.ctx()
        try:
            quote = quotes.submit_quote(ctx, quote_id or 0)
            flash(gettext("Quote %(number)s submitted: %(status)s.", number=quote.number,
                          status=code_label(quote.status)), "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return redirect(url_for(".details_view", id=quote_id))
