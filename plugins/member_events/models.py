"""The member events plugin's tables: events and their invitations (answer and check-in per invitee)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.contracts import MERGE_KEEP_WINNER
from crmcore.db import Base, created_ts, intpk, updated_ts

RESPONSES = ("pending", "yes", "no", "maybe")
ANSWERS = ("yes", "no", "maybe")


class MemberEvent(Base):
    """A customer get-together: when (UTC, shown in its own ``timezone``), where, for how many."""

    __tablename__ = "member_events"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime | None]
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    place: Mapped[str] = mapped_column(String(255))
    capacity: Mapped[int | None]  # the "yes" answers it takes; None: no limit
    audience_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_audiences.id", ondelete="SET NULL"))
    cancelled: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    audience = relationship("Audience")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class Invitation(Base):
    """One invitee of an event: their answer (``pending`` until they give one) and their check-in."""

    __tablename__ = "member_event_invitations"
    # a merged pair both invited: the winner's invitation (its answer and check-in) stays
    __table_args__ = (UniqueConstraint("event_id", "customer_id"), {"info": {"merge_policy": MERGE_KEEP_WINNER}})

    id: Mapped[intpk]
    event_id: Mapped[int] = mapped_column(ForeignKey("member_events.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    response: Mapped[str] = mapped_column(String(8), default="pending")
    responded_at: Mapped[dt.datetime | None]
    checked_in_at: Mapped[dt.datetime | None]
    checked_in_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[created_ts]

    event: Mapped[MemberEvent] = relationship(lazy="joined")
    customer = relationship("Customer")

    def __str__(self) -> str:
        return f"{self.event.name}: {self.customer.name if self.customer else self.customer_id}"
