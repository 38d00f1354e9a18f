"""The social plugin's record types in the entity metadata: their codes with words, for the audit log and tools."""
from __future__ import annotations

from typing import Any

from crmcore.entities import Entity
from crmcore.i18n import _


def entities() -> list[Entity]:
    from . import labels
    from .models import Programme, Referral, ReferralCode, Reward

    def words(table: dict[str, Any]) -> list[tuple[str, Any]]:
        return list(table.items())

    return [Entity("referral_code", ReferralCode, _("Referral code"), "social.read"),
            Entity("referral", Referral, _("Referrals"), "social.read", choices={"source": words(labels.SOURCES)},
                   hidden=("device",)),
            Entity("referral_programme", Programme, _("Referral programme"), "social.read",
                   choices={"reward_kind": words(labels.REWARD_KINDS)}),
            Entity("referral_reward", Reward, _("Referral rewards"), "social.read",
                   choices={"status": words(labels.REWARD_STATES), "reason": words(labels.REFUSALS),
                            "role": words(labels.REWARD_ROLES), "kind": words(labels.REWARD_KINDS)})]
