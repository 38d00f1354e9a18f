"""Callback nonces the channels remember, so a replayed callback is refused (one table, pruned as it goes)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import IntegrityError

from crmcore.db import utcnow
from crmcore.runtime import ServiceContext

from .models import ChannelNonce

NONCE_MEMORY = 86400


def remember_nonce(ctx: ServiceContext, platform: str, account: str, nonce: str, keep: int = NONCE_MEMORY) -> bool:
    """Remember a callback's nonce; False when it was seen before (a replay). Old nonces are pruned."""
    now = utcnow()
    ctx.session.query(ChannelNonce).filter(ChannelNonce.platform == platform, ChannelNonce.account == account,
                                           ChannelNonce.seen_at < now - dt.timedelta(seconds=keep)).delete()
    savepoint = ctx.session.begin_nested()
    try:
        ctx.session.add(ChannelNonce(platform=platform, account=account, nonce=str(nonce)[:128], seen_at=now))
        ctx.session.flush()
    except IntegrityError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True
