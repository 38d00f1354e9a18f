"""Customer, its contacts, addresses and tags: the one shared customer record."""
from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, created_ts, intpk, str120, str255, updated_ts
from . import auth  # noqa: F401 - the classes its relationships name, mapped with it

KINDS = ("person", "organization")
STAGES = ("lead", "prospect", "customer", "inactive")
CONTACT_CHANNELS = ("phone", "mobile", "email", "wechat", "qq", "weibo", "other")

customer_tags = Table(
    "customer_tags",
    Base.metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[intpk]
    name: Mapped[str120] = mapped_column(unique=True)
    color: Mapped[str | None] = mapped_column(String(16))

    def __str__(self) -> str:
        return self.name


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_owner_stage", "owner_id", "stage"),
                      Index("ix_customers_name_id", "name", "id"))  # the list by name, paged by keyset

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str255] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16), default="organization", info={"choices": KINDS})
    stage: Mapped[str] = mapped_column(String(16), default="lead", index=True, info={"choices": STAGES})
    level: Mapped[str | None] = mapped_column(String(32))
    source_channel: Mapped[str | None] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(120))
    website: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(40))
    phone_normalized: Mapped[str | None] = mapped_column(String(40), index=True)
    email: Mapped[str | None] = mapped_column(String(255))
    email_normalized: Mapped[str | None] = mapped_column(String(255), index=True)
    credit_limit: Mapped[decimal.Decimal | None]
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    notes: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    completeness: Mapped[int] = mapped_column(default=0)
    search_text: Mapped[str | None] = mapped_column(Text)
    name_key: Mapped[str | None] = mapped_column(String(255), index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    deleted_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")
    tags: Mapped[list[Tag]] = relationship(secondary=customer_tags, lazy="selectin", order_by="Tag.name")
    contacts: Mapped[list["Contact"]] = relationship(back_populates="customer", order_by="Contact.id")
    addresses: Mapped[list["Address"]] = relationship(back_populates="customer", order_by="Address.id")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[intpk]
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str255]
    title: Mapped[str | None] = mapped_column(String(120))
    is_primary: Mapped[bool] = mapped_column(default=False)
    phone: Mapped[str | None] = mapped_column(String(40))
    mobile: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(255))
    wechat: Mapped[str | None] = mapped_column(String(120))
    qq: Mapped[str | None] = mapped_column(String(40))
    weibo: Mapped[str | None] = mapped_column(String(120))
    other: Mapped[str | None] = mapped_column(String(255))
    phone_normalized: Mapped[str | None] = mapped_column(String(40), index=True)
    mobile_normalized: Mapped[str | None] = mapped_column(String(40), index=True)
    email_normalized: Mapped[str | None] = mapped_column(String(255), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    customer: Mapped[Customer] = relationship(back_populates="contacts")
    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[intpk]
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="office")
    line1: Mapped[str255]
    line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(120))
    postcode: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2), default="CN")
    is_primary: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[created_ts]

    customer: Mapped[Customer] = relationship(back_populates="addresses")

    def __str__(self) -> str:
        return ", ".join(p for p in (self.line1, self.city, self.region, self.country) if p)
