"""Messaging channels: WeChat Official Account (and the other platforms' adapters), the inbound pipeline,
customer identities learnt from messages, the unmatched queue.

Registers as the built-in plugin ``channels`` exactly as a third party would, by declarations: its tables
and migrations (found by convention), permissions ``channels.read`` / ``channels.manage``, the hooks it
owns (:mod:`adapters.channels.hookspecs`: ``crm_channel_scene``, ``crm_channel_scene_qrcode``, ``crm_channel_lead``,
``crm_channel_ticket``, ``crm_channel_receipt``),
its send providers (``crm_channels``), callbacks under ``/channels/<platform>/<account>/callback`` (outside
``/api/``: authenticated by signature), ``/api/v1/channels/``, admin pages and ``crm channels``.
"""
from __future__ import annotations

from typing import Any

from crmcore import hookimpl
from crmcore.i18n import lazy_gettext as _l

CRM_LABEL = _l("Messaging channels")  # the plugin's name on the admin's plugin page
CRM_HOOKSPECS = "adapters.channels.hookspecs"  # crm_channel_scene, crm_channel_lead, crm_channel_ticket
# Found by convention: models.py, migrations/, templates/. Declared (crmcore.declarations):
CRM_PERMISSIONS = ".permissions:PERMISSIONS"
CRM_BLUEPRINTS = [".callbacks:bp", ".wechat_oauth:bp", ".api:blp"]
CRM_ADMIN_VIEWS = ".admin:admin_views"
CRM_COMMANDS = ".cli:channels"
CRM_JOBS = ".jobs:JOBS"


@hookimpl
def crm_channels() -> list[Any]:
    from .sms import SmsChannel
    from .wechat import WeChatChannel
    from .wecom_send import WeComChannel
    from .wiring import wecom_address

    return [WeChatChannel(), SmsChannel(), WeComChannel(address_expr=wecom_address())]


@hookimpl
def crm_channel_scene_qrcode(ctx: Any, scene: str, expires_in: int) -> str | None:
    from .scene_codes import scene_qrcode

    return scene_qrcode(ctx, scene, expires_in)


@hookimpl
def crm_demo_data(ctx: Any) -> list[str]:
    from .demo import load_demo

    return [load_demo(ctx)]


@hookimpl
def crm_startup(app: Any) -> None:
    from .callbacks import bp

    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)  # a platform posts from outside; it is checked by its signature

