"""Admin pages of the OA adapter: provider settings with write-only secrets, and the callbacks not
applied (failed, ignored or waiting) with replay."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select

from crmcore.admin.views import SecureView, flash_crm_error
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l

from . import inbox, settings
from .labels import setting_label
from .models import OACallback

SETTINGS = _l("Settings")


class OAProvidersView(SecureView):
    """Provider settings; secrets are write-only: never shown, kept when left empty."""

    permission = "workflow.manage"

    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        ctx = self.ctx()
        names = sorted(p for p in ctx.registry.oa_providers if p != "internal")
        typed: dict[str, dict[str, Any]] = {}  # a refused form's values, shown again (never its secrets)
        if request.method == "POST":
            name = request.form.get("provider", "")
            cls = ctx.registry.oa_providers.get(name)
            if cls is None or name == "internal":
                flash(gettext("Choose a provider."), "error")
                return redirect(url_for(".index"))
            config = {f: request.form.get(f"config_{f}", "").strip() for f in cls.config_fields}
            secrets = {f: request.form.get(f"secret_{f}", "") for f in cls.secret_fields}
            try:
                settings.save_provider_settings(ctx, name, {k: v for k, v in config.items() if v}, secrets)
            except CRMError as exc:
                ctx.session.rollback()
                flash_crm_error(exc)
                typed[name] = config
            else:
                flash(gettext("Settings of %(name)s saved.", name=name), "success")
                return redirect(url_for(".index"))
        rows = []
        for name in names:
            cls = ctx.registry.oa_providers[name]
            config, secrets = settings.provider_config(ctx, name)
            config = {**config, **typed.get(name, {})}
            rows.append({"name": name, "label": getattr(cls, "label", name),
                         "config": [(f, setting_label(cls, f), config.get(f, "")) for f in cls.config_fields],
                         "secrets": [(f, setting_label(cls, f), bool(secrets.get(f))) for f in cls.secret_fields]})
        return self.render("admin/oa/providers.html", rows=rows)


class OACallbacksView(SecureView):
    """Callbacks not applied (received, failed, ignored), each with replay (approval managers)."""

    permission = "approval.manage"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        callbacks = list(ctx.session.scalars(select(OACallback).where(OACallback.status.in_(("failed", "ignored", "received")))
                                             .order_by(OACallback.id.desc()).limit(50)))
        return self.render("admin/oa/callbacks.html", callbacks=callbacks)

    @expose("/<int:callback_id>/replay", methods=["POST"])
    def replay(self, callback_id: int) -> Any:
        ctx = self.ctx()
        try:
            cb = inbox.replay_callback(ctx, callback_id)
            flash(gettext("Callback %(id)s processed again: %(status)s.", id=cb.id, status=cb.status), "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        except Exception as exc:  # noqa: BLE001 - an OA that cannot be reached: say so
            ctx.session.rollback()
            flash(gettext("The OA could not be asked: %(error)s", error=str(exc)), "error")
        return redirect(url_for(".index"))


def admin_views(db: Any) -> list[Any]:
    return [OAProvidersView(name=_l("OA provider settings"), endpoint="oa_providers", url="/admin/oa/providers",
                            category=SETTINGS),
            OACallbacksView(name=_l("OA callbacks"), endpoint="oa_callback_inbox", url="/admin/oa/callbacks")]
