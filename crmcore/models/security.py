"""Counters shared by every web worker: rate-limit windows and failed logins (keyed hashes, no addresses)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, intpk


class RateLimitHit(Base):
    """Requests per client key (an HMAC of scope and client, never the address) in one fixed window."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (UniqueConstraint("bucket", "window_start", name="uq_rate_limit_hits_bucket_window"),)

    id: Mapped[intpk]
    bucket: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime] = mapped_column(index=True)
    hits: Mapped[int] = mapped_column(default=0)


class LoginFailure(Base):
    """Failed logins of one account or one client (an HMAC key) since ``first_at``; ``locked_until`` once
    there were too many."""

    __tablename__ = "login_failures"

    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(64), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    first_at: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None] = mapped_column(index=True)
