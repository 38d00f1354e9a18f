"""The social plugin's tables: referral codes, who referred whom, the programme, rewards and social value."""
from __future__ import annotations

import datetime as dt
import decimal

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.contracts import MERGE_DROP_DERIVED, MERGE_KEEP_WINNER
from crmcore.db import Base, created_ts, intpk, updated_ts

SOURCES = ("form", "api", "wechat", "link", "admin", "import", "wecom")
REWARD_ROLES = ("referrer", "referee")
REWARD_KINDS = ("points", "coupon")
REWARD_STATES = ("pending", "granted", "refused", "cancelled")
REFUSALS = ("self_referral", "same_phone", "same_email", "same_device", "same_address", "not_first_order",
            "already_rewarded", "order_cancelled", "no_payer", "programme_off", "coupon_not_issued")


class ReferralCode(Base):
    """A short, unguessable code of a customer or a rep; the link ``/r/<code>`` carries it."""

    __tablename__ = "social_referral_codes"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_ts]

    def __str__(self) -> str:
        return self.code


class Referral(Base):
    """Who referred whom: the code's owner (a customer or a rep) brought a lead and/or a customer.

    A customer is referred at most once (``referee_customer_id`` unique), so the referrals between
    customers form a forest; one that would close a cycle is refused."""

    __tablename__ = "social_referrals"
    # a merged pair both referred: the winner's referral stays (the merge hook keeps the tree acyclic first)
    __table_args__ = {"info": {"merge_policy": MERGE_KEEP_WINNER}}

    id: Mapped[intpk]
    code_id: Mapped[int | None] = mapped_column(ForeignKey("social_referral_codes.id", ondelete="SET NULL"))
    referrer_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"),
                                                             index=True)
    referrer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    referee_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"),
                                                            unique=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("sales_leads.id", ondelete="SET NULL"), unique=True)
    source: Mapped[str] = mapped_column(String(16), info={"choices": SOURCES})
    device: Mapped[str | None] = mapped_column(String(64))  # a hash of the referee's browser and address
    created_at: Mapped[created_ts]


class Programme(Base):
    """The referral programme's settings (one row): what the referrer and the new customer get, and when."""

    __tablename__ = "social_programme"

    id: Mapped[intpk]
    active: Mapped[bool] = mapped_column(default=True)
    reward_kind: Mapped[str] = mapped_column(String(16), default="points", info={"choices": REWARD_KINDS})
    referrer_points: Mapped[int] = mapped_column(default=100)
    referee_points: Mapped[int] = mapped_column(default=50)
    coupon_programme_id: Mapped[int | None]
    return_window_days: Mapped[int] = mapped_column(default=14)
    decay: Mapped[decimal.Decimal] = mapped_column(Numeric(4, 3), default=decimal.Decimal("0.5"))
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    updated_at: Mapped[updated_ts]

    __mapper_args__ = {"version_id_col": version}


class Reward(Base):
    """A reward of a referral to one party, pending until the return window is over; a refusal keeps its reason."""

    __tablename__ = "social_rewards"

    id: Mapped[intpk]
    referral_id: Mapped[int] = mapped_column(ForeignKey("social_referrals.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), info={"choices": REWARD_ROLES})
    kind: Mapped[str] = mapped_column(String(16), info={"choices": REWARD_KINDS})
    points: Mapped[int | None]
    coupon_code: Mapped[str | None] = mapped_column(String(32))  # the code issued, for a coupon reward
    order_id: Mapped[int | None] = mapped_column(ForeignKey("sales_orders.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="pending", info={"choices": REWARD_STATES})
    reason: Mapped[str | None] = mapped_column(String(32), info={"choices": REFUSALS})
    due_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    created_at: Mapped[created_ts]


class SocialValue(Base):
    """A customer's social value as last computed (the ``social.recompute`` job): derived data."""

    __tablename__ = "social_values"
    __table_args__ = ({"info": {"merge_policy": MERGE_DROP_DERIVED}},)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    social_value: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 2), default=decimal.Decimal("0"))
    referral_count: Mapped[int] = mapped_column(default=0)
    referral_reach: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[created_ts]
