"""Parametric QR codes for scenes: a temporary WeChat code per scene, asked once and kept until it expires."""
from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from crmcore.errors import CRMError
from crmcore.runtime import ServiceContext

from .models import ChannelAccount
from .wechat import Settings, WeChatAPI

log = logging.getLogger(__name__)
MAX_SECONDS = 2592000  # WeChat keeps a temporary QR code 30 days at most
_CODES: dict[tuple[str, str, str], tuple[str, float]] = {}
_LOCK = threading.Lock()


def scene_qrcode(ctx: ServiceContext, scene: str, expires_in: int, http: object = None) -> str | None:
    """The URL of a QR code carrying ``scene`` of the first enabled WeChat account with its AppSecret; None
    without one, or when WeChat refuses (logged). Kept until five minutes before it expires."""
    if not scene or len(scene) > 64:
        return None
    row = ctx.session.scalars(select(ChannelAccount).where(ChannelAccount.platform == "wechat",
                                                           ChannelAccount.enabled.is_(True))
                              .order_by(ChannelAccount.id)).first()
    if row is None or not (row.secrets or {}).get("app_secret"):
        return None
    settings = Settings.of(row)
    key = (settings.base_url, settings.app_id, scene)
    with _LOCK:
        found = _CODES.get(key)
        if found is not None and found[1] > time.time():
            return found[0]
    try:
        url, lifetime = WeChatAPI(settings, http).scene_qrcode(scene, max(60, min(MAX_SECONDS, int(expires_in))))
    except CRMError as exc:
        log.warning("no QR code for a scene from WeChat account %s: %s", settings.app_id, exc)
        return None
    with _LOCK:
        _CODES[key] = (url, time.time() + max(0, lifetime - 300))
    return url
