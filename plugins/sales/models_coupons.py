"""The sales plugin's coupon tables: programmes, their codes and each use of a code on an order."""
from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.db import Base, created_ts, intpk, updated_ts

CODE_KINDS = ("single", "multi")  # one use per code, or one shared code used many times
DISCOUNT_KINDS = ("amount", "percent")


class CouponProgramme(Base):
    """A coupon programme: what a code of it takes off an order, and on which conditions."""

    __tablename__ = "sales_coupon_programmes"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    code_kind: Mapped[str] = mapped_column(String(8), default="single")
    discount_kind: Mapped[str] = mapped_column(String(8), default="amount")
    amount: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 2))  # money, or a percentage
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    min_spend: Mapped[decimal.Decimal | None] = mapped_column(Numeric(18, 2))
    product_ids: Mapped[list[Any]] = mapped_column(default=list)  # empty: every product
    categories: Mapped[list[Any]] = mapped_column(default=list)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    per_customer_limit: Mapped[int | None]
    usage_limit: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class Coupon(Base):
    """A code of a programme; ``customer_id`` set: only that customer may use it; ``max_uses`` None: no limit
    of its own (a multi-use code). Its uses are its redemptions not released, on orders not cancelled."""

    __tablename__ = "sales_coupons"

    id: Mapped[intpk]
    programme_id: Mapped[int] = mapped_column(ForeignKey("sales_coupon_programmes.id", ondelete="CASCADE"),
                                              index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    max_uses: Mapped[int | None]
    source: Mapped[str] = mapped_column(String(32), default="admin")
    batch: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[created_ts]

    programme: Mapped[CouponProgramme] = relationship(lazy="joined")
    customer = relationship("Customer")

    def __str__(self) -> str:
        return self.code


class CouponRedemption(Base):
    """One use of a code on an order; ``released_at`` set when the order was cancelled (or the code removed)."""

    __tablename__ = "sales_coupon_redemptions"
    __table_args__ = (Index("ix_sales_coupon_redemptions_order_released", "order_id", "released_at"),)

    id: Mapped[intpk]
    coupon_id: Mapped[int] = mapped_column(ForeignKey("sales_coupons.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("sales_coupon_programmes.id", ondelete="CASCADE"),
                                              index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    discount: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 2))
    order_total: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[created_ts]
    released_at: Mapped[dt.datetime | None]

    coupon: Mapped[Coupon] = relationship()
