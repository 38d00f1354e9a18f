"""CustomField: admin-defined fields whose values live in an entity's ``attributes``."""
from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text, UniqueConstraint, event, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, created_ts, intpk

ENTITIES = ("customer", "contact")  # the records that carry custom fields

class CustomField(Base):
    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("entity", "name", name="uq_custom_fields_entity_name"),
                      {"info": {"crm_stamps": ("custom_fields",)}})  # any change moves the stamp

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


STAMPS_INFO = "crm_stamps"  # a table's ``info`` key: the names of the stamps its writes bump
_NAMES: tuple[int, list[str]] = (-1, [])


def stamp_names() -> list[str]:
    """Every stamp a table names in its ``info`` (``{"crm_stamps": ("custom_fields",)}``): the core's and the
    loaded plugins', sorted."""
    global _NAMES
    tables = Base.metadata.tables
    if _NAMES[0] != len(tables):  # a plugin's tables were added since
        _NAMES = (len(tables), sorted({n for t in tables.values() for n in t.info.get(STAMPS_INFO, ())}))
    return _NAMES[1]


class ChangeStamp(Base):
    """A counter bumped in the transaction of every write of the tables that name it (``custom_fields``: any
    custom field added, changed or removed; ``services.stamps``). A process keeps what it read under the stamp it
    read it at, and reads it again only when the stamp moved: an API request reads the stamps in its token's
    statement, so the custom fields cost it no statement of their own."""

    __tablename__ = "change_stamps"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


def seed_stamps(connection: Connection) -> None:
    """The rows of the stamps that have none yet, at 0: a new database (``create_all``), ``crm init-db`` (an
    upgrade, a plugin installed later). A stamp without its row is not known: what it stamps is read by every
    request, until its first change makes the row."""
    have = set(connection.scalars(select(ChangeStamp.name)))
    missing = [{"name": name, "version": 0} for name in stamp_names() if name not in have]
    if missing:
        connection.execute(insert(ChangeStamp), missing)


@event.listens_for(ChangeStamp.__table__, "after_create")
def _seed(target: Any, connection: Connection, **kw: Any) -> None:
    seed_stamps(connection)
