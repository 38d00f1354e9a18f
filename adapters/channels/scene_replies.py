"""What a scene handler answers a queued WeChat follower once an agent links them: a customer-service message."""
from __future__ import annotations

import logging

from sqlalchemy import select

from crmcore.errors import CRMError
from crmcore.runtime import ServiceContext

from .models import ChannelAccount, ChannelMessage

log = logging.getLogger(__name__)


def send_scene_replies(ctx: ServiceContext, answered: list[tuple[ChannelMessage, list[str]]]) -> int:
    """Send each queued scan's answers (the passive reply's time is long gone) as one WeChat customer-service text
    to its follower, after the link committed. Other platforms have no such message (WeCom's group sends need a
    staff member's confirmation), so their answers are not sent. A refusal (WeChat's 48-hour window, an account
    without its AppSecret, WeChat down) is logged and the link stands. Returns how many were sent."""
    from .wechat import Settings, WeChatAPI

    sent = 0
    for message, texts in answered:
        if message.platform != "wechat" or not texts:
            continue
        row = ctx.session.scalar(select(ChannelAccount).where(
            ChannelAccount.platform == "wechat", ChannelAccount.account == message.account,
            ChannelAccount.enabled.is_(True)))
        if row is None or not (row.secrets or {}).get("app_secret"):
            log.info("scene answer to queued message %s not sent: no WeChat account with its AppSecret", message.id)
            continue
        try:
            WeChatAPI(Settings.of(row)).send_text(message.sender, "\n\n".join(texts))
            sent += 1
        except CRMError as exc:
            log.warning("scene answer to queued message %s not sent: %s", message.id, exc.message)
    return sent
