"""CustomField: admin-defined fields whose values live in an entity's ``attributes``."""
from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text, UniqueConstraint, event, insert
from sqlalchemy.engine import Connection
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


#: the stamps there are, each seeded at 0 with its table (``change_stamps``)
STAMPS = ("custom_fields",)


class ChangeStamp(Base):
    """A counter bumped in the transaction of every change to what it stamps (``custom_fields``: any custom field
    added, changed or removed). A process keeps what it read under the stamp it read it at, and reads it again
    only when the stamp moved: an API request reads the stamp in its token's statement, so the custom fields cost
    it no statement of their own."""

    __tablename__ = "change_stamps"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


def seed_stamps(connection: Connection) -> None:
    """The stamps' rows, at 0 (a new database: the migration inserts them, ``create_all`` through this)."""
    connection.execute(insert(ChangeStamp), [{"name": name, "version": 0} for name in STAMPS])


@event.listens_for(ChangeStamp.__table__, "after_create")
def _seed(target: Any, connection: Connection, **kw: Any) -> None:
    seed_stamps(connection)
