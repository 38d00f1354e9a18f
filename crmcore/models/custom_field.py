"""CustomField: admin-defined fields whose values live in an entity's ``attributes``."""
from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, created_ts, intpk

ENTITIES = ("customer", "contact")  # the records that carry custom fields

class CustomField(Base):
    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("entity", "name", name="uq_custom_fields_entity_name"),)

    id: Mapped[intpk]
    entity: Mapped[str] = mapped_column(String(64), default="customer", info={"choices": ENTITIES})
    name: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(32), default="text")
    required: Mapped[bool] = mapped_column(default=False)
    choices: Mapped[list[Any]] = mapped_column(default=list)
    help_text: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_ts]

    def __str__(self) -> str:
        return f"{self.entity}.{self.name}"
