"""Consents in the admin: find a customer by name (within the user's record scope), see the history and record
a consent or its withdrawal (channel and purpose as words; a grant needs the text the customer was shown)."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from crmcore.admin.views import SecureView
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l, local_time
from crmcore.services.customers import get_customer

from ..services import consent as svc
from .common import CHANNEL_LABELS, PURPOSE_LABELS, channel_choices, field_errors, find_customers, purpose_choices

STATUS_LABELS = {"granted": _l("Agreed"), "withdrawn": _l("Withdrawn")}  # what staff may state
HISTORY_LABELS = {**STATUS_LABELS, "pending": _l("Awaiting confirmation by e-mail")}
SOURCE_LABELS = {"form": _l("A form"), "api": _l("Another system (API)"), "import": _l("An import"),
                 "admin": _l("Recorded by staff"), "double_opt_in": _l("Confirmed by e-mail"),
                 "unsubscribe": _l("Unsubscribe link"), "preference_page": _l("Preference page")}


class ConsentsView(SecureView):
    """A customer's consents: history and the form to record one."""

    permission = "marketing.consent.write"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        query = request.args.get("q", "")
        return self.render("marketing/admin/consents.html", query=query, found=find_customers(ctx, query))

    @expose("/<int:customer_id>", methods=["GET", "POST"])
    def customer(self, customer_id: int) -> Any:
        ctx = self.ctx()
        try:
            customer = get_customer(ctx, customer_id)  # 404 unknown, 403 outside the user's scope
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        data: dict[str, Any] = {"channel": "email", "purpose": "marketing", "status": "granted", "text": ""}
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            data = {"channel": request.form.get("channel"), "purpose": request.form.get("purpose") or "marketing",
                    "status": request.form.get("status"), "source": "admin",
                    "text": (request.form.get("text") or "").strip() or None}
            try:
                row = svc.record(ctx, customer.id, data)
                flash(gettext("Recorded: a confirmation link was mailed to the customer; the consent counts once "
                              "they follow it.") if row.status == "pending" else gettext("Recorded."), "success")
                return redirect(url_for(".customer", customer_id=customer.id))
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")
                errors = field_errors(exc)
        rows = [{"channel": CHANNEL_LABELS.get(c.channel, c.channel), "purpose": PURPOSE_LABELS.get(c.purpose, c.purpose),
                 "status": HISTORY_LABELS.get(c.status, c.status), "source": SOURCE_LABELS.get(c.source, c.source),
                 "text": c.text, "at": local_time(c.recorded_at)} for c in svc.history(ctx, customer.id)]
        return self.render("marketing/admin/consent.html", customer=customer, rows=rows, data=data, errors=errors,
                           channels=channel_choices(), purposes=purpose_choices(),
                           statuses=[(k, str(v)) for k, v in STATUS_LABELS.items()])
