"""The plugin's one table: a ledger of loyalty points; a customer's balance is the sum."""
from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.db import Base, created_ts, intpk


class LoyaltyPoints(Base):
    """One award (or deduction, when negative) of points to a customer."""

    __tablename__ = "loyalty_points"

    id: Mapped[intpk]
    # A foreign key to customers.id: the core's merge moves these rows to the winner by itself.
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(String(255))
    # The event that earned the points, if any: unique, so an event never pays twice.
    event_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    created_at: Mapped[created_ts]

    def __str__(self) -> str:
        return f"{self.points:+d} {self.reason}"
