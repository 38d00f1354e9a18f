"""The OA adapter's tables: the callback inbox, remembered callback nonces and provider settings.

Their names are those the core's migrations used until issue 14; ``migrations/0001_oa`` takes
them over in databases made then.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.db import Base, created_ts, intpk, updated_ts, utcnow


class OACallback(Base):
    """The inbox of OA callbacks: one row per event, a unique dedupe key drops repeats."""

    __tablename__ = "oa_callbacks"

    id: Mapped[intpk]
    provider: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(128))
    event_type: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)  # received, processed, ignored, failed
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[created_ts]
    processed_at: Mapped[dt.datetime | None]


class OANonce(Base):
    """Nonces of verified callbacks, remembered past the replay window so a replay is refused."""

    __tablename__ = "oa_nonces"
    __table_args__ = (UniqueConstraint("provider", "nonce", name="uq_oa_nonces_nonce"),)

    id: Mapped[intpk]
    provider: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class OAProviderSetting(Base):
    """A provider's configuration; ``secrets`` are write-only (never shown, never logged)."""

    __tablename__ = "oa_provider_settings"

    id: Mapped[intpk]
    provider: Mapped[str] = mapped_column(String(32), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[updated_ts]

    def __repr__(self) -> str:  # never print the secrets
        return f"<OAProviderSetting {self.provider} secrets={sorted(self.secrets or {})}>"


MODELS = [OACallback, OANonce, OAProviderSetting]
