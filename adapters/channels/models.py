"""The channel adapters' tables: accounts (settings, write-only secrets), inbound messages, callback nonces."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.db import Base, created_ts, intpk, updated_ts, utcnow

from .base import PLATFORMS

STATUSES = ("matched", "unmatched", "lead", "ignored")


class ChannelAccount(Base):
    """One receiving account on a platform (a WeChat Official Account's app id, a WeCom corp, an SMS sign)."""

    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("platform", "account", name="uq_channel_accounts_key"),)

    id: Mapped[intpk]
    platform: Mapped[str] = mapped_column(String(16), info={"choices": PLATFORMS})
    account: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    enabled: Mapped[bool] = mapped_column(default=True)
    open_tickets: Mapped[bool] = mapped_column(default=False)  # messages open or update a service ticket
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(default=1, server_default="1", nullable=False)
    updated_at: Mapped[updated_ts]

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:  # never print the secrets
        return f"<ChannelAccount {self.platform}:{self.account} secrets={sorted(self.secrets or {})}>"


class ChannelMessage(Base):
    """An inbound message or event, stored once: (platform, account, msg_id) is unique."""

    __tablename__ = "channel_messages"
    __table_args__ = (UniqueConstraint("platform", "account", "msg_id", name="uq_channel_messages_key"),
                      Index("ix_channel_messages_status_id", "status", "id"),
                      Index("ix_channel_messages_sender", "platform", "account", "sender"))

    id: Mapped[intpk]
    platform: Mapped[str] = mapped_column(String(16), info={"choices": PLATFORMS})
    account: Mapped[str] = mapped_column(String(64))
    msg_id: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(255))
    unionid: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    event: Mapped[str | None] = mapped_column(String(64))
    scene: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="unmatched", info={"choices": STATUSES})
    matched_by: Mapped[str | None] = mapped_column(String(32))  # identity, unionid, phone, email, link
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interactions.id", ondelete="SET NULL"))
    lead_id: Mapped[int | None]
    ticket_id: Mapped[int | None]
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created_ts]

    customer = relationship("Customer")


class ChannelNonce(Base):
    """Nonces of verified callbacks, remembered past the replay window so a replay is refused."""

    __tablename__ = "channel_nonces"
    __table_args__ = (UniqueConstraint("platform", "account", "nonce", name="uq_channel_nonces_key"),)

    id: Mapped[intpk]
    platform: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


MODELS = [ChannelAccount, ChannelMessage, ChannelNonce]
