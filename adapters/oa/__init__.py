"""OA approval providers (internal, webhook, DingTalk, WeCom, Feishu), delivery to them, their
callback endpoint, the callback inbox and reconciliation.

Registers as the built-in plugin ``oa`` exactly as a third party would, by declarations: providers by
``CRM_OA_PROVIDERS``, the ``/oa/<provider>/callback`` blueprint by
``CRM_BLUEPRINTS`` (outside ``/api/``: callbacks are authenticated by signature), its
tables and migrations, the outbox destination ``oa``, the inbox and reconcile jobs, admin pages.
"""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl
from crmcore.i18n import lazy_gettext as _l
from crmcore.contracts import AuditEntity

# Declared (crmcore.declarations):
CRM_LABEL = _l("OA approvals")  # the plugin's name on the admin's plugin page
CRM_OA_PROVIDERS = [".internal:InternalProvider", ".webhook:WebhookProvider", ".dingtalk:DingTalkProvider",
                    ".wecom:WeComProvider", ".feishu:FeishuProvider"]
CRM_BLUEPRINTS = [".callbacks:bp"]
CRM_OUTBOX_HANDLERS = ".delivery:handler"
CRM_CHECKS = ".checks:CHECKS"
CRM_JOBS = ".jobs:JOBS"
CRM_ADMIN_VIEWS = ".admin:admin_views"
CRM_AUDIT_ENTITIES = [AuditEntity("oa_provider", "workflow.manage")]


@hookimpl
def crm_startup(app: Any) -> None:
    from .callbacks import bp

    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)  # an OA posts from outside; it is checked by its signature
