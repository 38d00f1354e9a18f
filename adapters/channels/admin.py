"""Admin pages of the channel adapters: accounts (write-only secrets), the unmatched queue (link to a customer
or make a lead) and the inbound messages."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from crmcore.admin.forms import visible_customers
from crmcore.admin.views import SecureView, flash_crm_error
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l

from . import accounts, inbox, labels
from .models import STATUSES

SETTINGS = _l("Settings")
CHANNELS = _l("Channels")


class ChannelAccountsView(SecureView):
    """Channel accounts; secrets are write-only: never shown, kept when left empty."""

    permission = "channels.manage"

    def _form(self, row: Any, platform: str, values: dict[str, Any]) -> dict[str, Any]:
        config_fields, secret_fields = accounts.FIELDS[platform]
        config = {**((row.config or {}) if row else {}), **values.get("config", {})}
        secrets = (row.secrets or {}) if row else {}
        return {"row": row, "platform": platform, "platform_label": labels.label(labels.PLATFORM_LABELS, platform),
                "values": values, "config": [(f, labels.label(labels.SETTING_LABELS, f), config.get(f, ""))
                                             for f in config_fields],
                "secrets": [(f, labels.label(labels.SETTING_LABELS, f), bool(secrets.get(f))) for f in secret_fields]}

    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        ctx = self.ctx()
        typed: dict[str, dict[str, Any]] = {}
        if request.method == "POST":
            row_id = request.form.get("id", "")
            row = accounts.get_account(ctx, int(row_id)) if row_id.isdigit() else None
            platform = row.platform if row else request.form.get("platform", "")
            config_fields, secret_fields = accounts.FIELDS.get(platform, ((), ()))
            data = {"platform": platform, "account": request.form.get("account", "").strip(),
                    "name": request.form.get("name", "").strip(), "enabled": bool(request.form.get("enabled")),
                    "open_tickets": bool(request.form.get("open_tickets")),
                    "config": {f: request.form.get(f"config_{f}", "").strip() for f in config_fields
                               if request.form.get(f"config_{f}", "").strip()},
                    "secrets": {f: request.form.get(f"secret_{f}", "") for f in secret_fields}}
            try:
                saved = accounts.save_account(ctx, data, row)
            except CRMError as exc:
                ctx.session.rollback()
                flash_crm_error(exc)
                typed[row_id or "new"] = {k: v for k, v in data.items() if k != "secrets"}
            else:
                flash(gettext("Account %(name)s saved.", name=saved.name), "success")
                return redirect(url_for(".index"))
        forms = [self._form(row, row.platform, typed.get(str(row.id), {})) for row in accounts.list_accounts(ctx)
                 if row.platform in accounts.FIELDS]
        new = [self._form(None, platform, typed.get("new", {}) if typed.get("new", {}).get("platform") == platform else {})
               for platform in accounts.FIELDS]
        return self.render("admin/channels/accounts.html", forms=forms, new=new, modes=labels.MODE_LABELS, vendors=labels.VENDOR_LABELS,
                           callback=lambda row: url_for("channel_callbacks.callback", platform=row.platform,
                                                        account=row.account, _external=True))


class UnmatchedView(SecureView):
    """Messages whose sender is not known: link them to a customer, or make a lead."""

    permission = "channels.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        items, total = inbox.list_messages(ctx, status="unmatched", page=1, page_size=100)
        return self.render("admin/channels/unmatched.html", items=items, total=total, customers=visible_customers(),
                           platform=lambda code: labels.label(labels.PLATFORM_LABELS, code),
                           summary=inbox.subject)

    @expose("/<int:message_id>/link", methods=["POST"])
    def link(self, message_id: int) -> Any:
        ctx = self.ctx()
        customer = request.form.get("customer_id", "")
        try:
            if not customer.isdigit():
                flash(gettext("Choose a customer."), "error")
            else:
                linked = inbox.link(ctx, message_id, int(customer))
                flash(gettext("%(n)s messages are on the customer's timeline.", n=len(linked)), "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return redirect(url_for(".index"))

    @expose("/<int:message_id>/lead", methods=["POST"])
    def lead(self, message_id: int) -> Any:
        ctx = self.ctx()
        data = {k: request.form.get(k, "").strip() for k in ("name", "company", "phone", "email")}
        try:
            inbox.make_lead(ctx, message_id, {k: v for k, v in data.items() if v or k == "name"})
            flash(gettext("The lead %(name)s was created.", name=data["name"]), "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return redirect(url_for(".index"))


class MessagesView(SecureView):
    """Inbound messages, newest first, by status."""

    permission = "channels.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        status = request.args.get("status", "")
        status = status if status in STATUSES else None
        page = max(1, int(request.args.get("page", "1"))) if request.args.get("page", "1").isdigit() else 1
        items, total = inbox.list_messages(ctx, status=status, page=page, page_size=50)
        return self.render("admin/channels/messages.html", items=items, total=total, page=page, status=status,
                           statuses=[(s, labels.label(labels.STATUS_LABELS, s)) for s in STATUSES],
                           platform=lambda code: labels.label(labels.PLATFORM_LABELS, code),
                           status_label=lambda code: labels.label(labels.STATUS_LABELS, code),
                           matched=lambda code: labels.label(labels.MATCH_LABELS, code), summary=inbox.subject)


def admin_views(db: Any) -> list[Any]:
    return [ChannelAccountsView(name=_l("Channel accounts"), endpoint="channel_accounts", url="/admin/channels/accounts",
                                category=SETTINGS),
            UnmatchedView(name=_l("Unmatched messages"), endpoint="channel_unmatched", url="/admin/channels/unmatched",
                          category=CHANNELS),
            MessagesView(name=_l("Inbound messages"), endpoint="channel_messages", url="/admin/channels/messages",
                         category=CHANNELS)]
