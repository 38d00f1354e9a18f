"""Customer merges and the referral tree: the merged customer keeps one referrer and no referral to itself or
round a circle; the referral (with its rewards) that would break the tree is removed, and put back on undo."""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from crmcore.contracts import MovedRows, RemovedRows
from crmcore.events import jsonable
from crmcore.runtime import ServiceContext

from ..models import Referral, Reward
from .tree import ancestor_ids


def before_merge(ctx: ServiceContext, winner: Any, loser: Any) -> list[MovedRows | RemovedRows]:
    """``crm_customer_merge``: the referral into the winner when the loser is above it (the merged customer would
    refer itself, directly or round a circle), the referral into the loser when the winner is above it or when
    both were referred (the winner's referrer stays). The core moves the rest (the loser's referees, codes)."""
    def incoming(customer_id: int) -> Referral | None:
        return ctx.session.scalar(select(Referral).where(Referral.referee_customer_id == customer_id))

    into_winner, into_loser = incoming(winner.id), incoming(loser.id)
    if loser.id in ancestor_ids(ctx, winner.id):
        drop = into_winner
    elif winner.id in ancestor_ids(ctx, loser.id) or (into_winner is not None and into_loser is not None):
        drop = into_loser
    else:
        drop = None
    if drop is None:
        return []
    rewards = _rows(ctx, Reward, Reward.referral_id == drop.id)
    referrals = _rows(ctx, Referral, Referral.id == drop.id)
    ctx.session.execute(delete(Reward).where(Reward.referral_id == drop.id))
    ctx.session.execute(delete(Referral).where(Referral.id == drop.id))
    ctx.session.expire_all()
    # put back in this order on undo: the referral before the rewards that point to it
    return [RemovedRows(Referral.__tablename__, referrals), RemovedRows(Reward.__tablename__, rewards)]


def _rows(ctx: ServiceContext, model: Any, where: Any) -> list[dict[str, Any]]:
    table = model.__table__
    return [{k: jsonable(v) for k, v in row.items()}
            for row in ctx.session.execute(select(table).where(where)).mappings()]
