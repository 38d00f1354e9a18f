"""Hook specifications the social plugin owns: paying a referral reward in loyalty points.

Added to the plugin manager when the social plugin registers (its ``CRM_HOOKSPECS``). A plugin that
implements one without requiring ``social`` marks the impl ``optionalhook=True`` (the loyalty example does).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from crmcore import hookspec

if TYPE_CHECKING:  # real types for readers, not imported at run time
    from crmcore.runtime import ServiceContext


@hookspec(firstresult=True)
def crm_referral_reward(ctx: ServiceContext, customer_id: int, points: int, reason: str, key: str) -> bool | None:
    """Give a customer loyalty points for a referral.

    Called by the ``social.rewards`` job when a pending reward's return window is over, inside the job's
    unit of work (write on ``ctx.session``; do not commit). ``key`` is the same on a retry: pay once per key.
    Stops at first non-None result; with no answer the reward is refused as "nobody pays points".

    :param ctx: the ``ServiceContext`` of the job (the system).
    :param customer_id: the customer to reward (the referrer or the new customer).
    :param points: how many points.
    :param reason: the reward's description, in the CRM's default language.
    :param key: an idempotency key (``social-reward-<id>``).
    :return: True when the points are given.
    """
