"""The lead forms a marketer sets up in the admin and embeds on the company's website."""
from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.db import Base, created_ts, intpk, updated_ts

# The lead's fields a visitor may fill in, in the order the form shows them; the name is always asked.
FORM_FIELDS = ("company", "title", "phone", "email", "wechat", "message")


class LeadForm(Base):
    """A public lead form: which fields it asks (``asked``: ``[{"field": ..., "required": ...}]``, written by
    the admin's check boxes, never typed), the consent text a visitor must accept, the thank-you page."""

    __tablename__ = "sales_lead_forms"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    intro: Mapped[str | None] = mapped_column(Text)
    asked: Mapped[list[Any]] = mapped_column(default=list)
    consent_text: Mapped[str | None] = mapped_column(Text)
    thank_you_title: Mapped[str | None] = mapped_column(String(255))
    thank_you_text: Mapped[str | None] = mapped_column(Text)
    campaign: Mapped[str | None] = mapped_column(String(120))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    submissions: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    def __str__(self) -> str:
        return self.name
