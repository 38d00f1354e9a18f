"""OA approval providers (internal, webhook, DingTalk, WeCom, Feishu) and their callback endpoint.

Registers as the built-in plugin ``oa`` exactly as a third party would: providers by
``crm_register_oa_providers``, the ``/oa/<provider>/callback`` blueprint by
``crm_register_blueprints`` (outside ``/api/``: callbacks are authenticated by signature).
"""
from __future__ import annotations

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
    from .callbacks import bp

    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)  # an OA posts from outside; it is checked by its signature
