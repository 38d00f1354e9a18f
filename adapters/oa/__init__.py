"""OA approval providers (internal, webhook, DingTalk, WeCom, Feishu) and their callback endpoint.

Registers as the built-in plugin ``oa`` exactly as a third party would: providers by
``crm_register_oa_providers``, the ``/oa/<provider>/callback`` blueprint by
``crm_register_blueprints`` (outside ``/api/``: callbacks are authenticated by signature).
"""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl

# Declared (crmcore.declarations):
CRM_OA_PROVIDERS = [".internal:InternalProvider", ".webhook:WebhookProvider", ".dingtalk:DingTalkProvider",
                    ".wecom:WeComProvider", ".feishu:FeishuProvider"]
CRM_BLUEPRINTS = [".callbacks:bp"]


@hookimpl
def crm_startup(app: Any) -> None:
    from .callbacks import bp

    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)  # an OA posts from outside; it is checked by its signature
