"""Callback nonces the channels remember, so a replayed callback is refused (one table, pruned as it goes)."""
from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from crmcore.db import utcnow
from crmcore.runtime import ServiceContext

from .models import ChannelNonce
from .upsert import insert_or_skip

NONCE_MEMORY = 86400
PRUNE_EVERY = 60.0  # seconds between two prunes of an account's old nonces (per process): not every callback
_PRUNED: dict[tuple[int, str, str, int], float] = {}


def _prune(ctx: ServiceContext, platform: str, account: str, keep: int, now: dt.datetime) -> None:
    """Forget nonces older than ``keep`` seconds, at most every :data:`PRUNE_EVERY` seconds per account: they
    are outside every replay window, so a callback carrying one is refused by its timestamp anyway."""
    key = (id(ctx.session.get_bind()), platform, account, keep)
    if time.monotonic() - _PRUNED.get(key, -PRUNE_EVERY) < PRUNE_EVERY:
        return
    ctx.session.execute(delete(ChannelNonce).where(ChannelNonce.platform == platform, ChannelNonce.account == account,
                                                   ChannelNonce.seen_at < now - dt.timedelta(seconds=keep)))
    _PRUNED[key] = time.monotonic()


def remember_nonce(ctx: ServiceContext, platform: str, account: str, nonce: str, keep: int = NONCE_MEMORY) -> bool:
    """Remember a callback's nonce; False when it was seen before (a replay). Old nonces are pruned now and then.
    One statement (INSERT ... ON CONFLICT DO NOTHING) in the caller's transaction, which goes on either way."""
    now = utcnow()
    _prune(ctx, platform, account, keep, now)
    values = {"platform": platform, "account": account, "nonce": str(nonce)[:128], "seen_at": now}
    stmt = insert_or_skip(ctx, ChannelNonce, ["platform", "account", "nonce"], values)
    if stmt is not None:
        return ctx.session.execute(stmt.returning(ChannelNonce.id)).first() is not None  # no row: seen before
    savepoint = ctx.session.begin_nested()
    try:
        ctx.session.add(ChannelNonce(**values))
        ctx.session.flush()
    except IntegrityError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True
