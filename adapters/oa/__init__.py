"""OA approval providers (internal, webhook, DingTalk, WeCom, Feishu), delivery to them, their
callback endpoint, the callback inbox and reconciliation.

Registers as the built-in plugin ``oa`` exactly as a third party would: providers by
``crm_register_oa_providers``, the ``/oa/<provider>/callback`` blueprint by
``crm_register_blueprints`` (outside ``/api/``: callbacks are authenticated by signature), its
tables and migrations, the outbox destination ``oa``, the inbox and reconcile jobs, admin pages.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from crmcore import hookimpl


@hookimpl
def crm_register_oa_providers() -> list[Any]:
    from .dingtalk import DingTalkProvider
    from .feishu import FeishuProvider
    from .internal import InternalProvider
    from .webhook import WebhookProvider
    from .wecom import WeComProvider

    return [InternalProvider, WebhookProvider, DingTalkProvider, WeComProvider, FeishuProvider]


@hookimpl
def crm_register_blueprints() -> list[Any]:
    from .callbacks import bp

    return [bp]


@hookimpl
def crm_startup(app: Any) -> None:
    from flask import Blueprint

    from .callbacks import bp

    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)  # an OA posts from outside; it is checked by its signature
    # the admin pages' templates (admin/oa/*.html) join the app's template search path
    app.register_blueprint(Blueprint("oa_templates", __name__, template_folder="templates"))


@hookimpl
def crm_register_models() -> list[type]:
    from .models import MODELS

    return MODELS


@hookimpl
def crm_register_migrations() -> list[str]:
    return [str(Path(__file__).parent / "migrations")]


@hookimpl
def crm_register_outbox_handlers() -> list[Any]:
    from crmcore.contracts import OutboxHandler
    from crmcore.services.approvals import PROVIDER_TOPICS

    from .delivery import deliver_oa

    return [OutboxHandler("oa", PROVIDER_TOPICS, deliver_oa)]


@hookimpl
def crm_register_jobs() -> list[Any]:
    from crmcore.contracts import Job

    from .delivery import reconcile
    from .inbox import process_inbox

    return [Job("approvals.inbox", process_inbox, 60, "Process received OA callbacks"),
            Job("approvals.reconcile", reconcile, 300, "Ask OAs about approvals pending too long")]


@hookimpl
def crm_register_admin_views(db: Any) -> list[Any]:
    from .admin import admin_views

    return admin_views(db)


@hookimpl
def crm_register_audit_entities() -> list[Any]:
    from crmcore.contracts import AuditEntity

    return [AuditEntity("oa_provider", "workflow.manage")]
