"""The sales plugin's billing tables: quotes, orders, invoices and payments, with their lines
(re-exported by ``plugins.sales.models``, where every sales model is imported from)."""
from __future__ import annotations

import datetime as dt
import decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.db import Base, created_ts, intpk, updated_ts

Percent = Numeric(5, 2)
Quantity = Numeric(18, 3)


class Quote(Base):
    __tablename__ = "sales_quotes"
    __table_args__ = (Index("ix_sales_quotes_currency", "currency"),)  # a report's "all in one currency?" check

    id: Mapped[intpk]
    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("sales_opportunities.id", ondelete="SET NULL"),
                                                       index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    price_list_id: Mapped[int | None] = mapped_column(ForeignKey("sales_price_lists.id", ondelete="SET NULL"))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    discount_percent: Mapped[decimal.Decimal] = mapped_column(Percent, default=decimal.Decimal("0"))
    list_total: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    subtotal: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    discount_total: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    total: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    effective_discount_percent: Mapped[decimal.Decimal] = mapped_column(Percent, default=decimal.Decimal("0"))
    max_line_discount_percent: Mapped[decimal.Decimal] = mapped_column(Percent, default=decimal.Decimal("0"))
    requires_approval: Mapped[bool] = mapped_column(default=False)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    lines: Mapped[list["QuoteLine"]] = relationship(back_populates="quote", cascade="all, delete-orphan",
                                                    order_by="QuoteLine.position", lazy="selectin")
    customer = relationship("Customer")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.number

    @property
    def largest_discount_percent(self) -> decimal.Decimal:
        """The larger of the overall discount and the largest line discount: what approval rules compare."""
        return max(self.effective_discount_percent or 0, self.max_line_discount_percent or 0)


class QuoteLine(Base):
    __tablename__ = "sales_quote_lines"

    id: Mapped[intpk]
    quote_id: Mapped[int] = mapped_column(ForeignKey("sales_quotes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("sales_products.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[decimal.Decimal] = mapped_column(Quantity)
    list_price: Mapped[decimal.Decimal]
    unit_price: Mapped[decimal.Decimal]
    discount_percent: Mapped[decimal.Decimal] = mapped_column(Percent, default=decimal.Decimal("0"))
    line_total: Mapped[decimal.Decimal]

    quote: Mapped[Quote] = relationship(back_populates="lines")


class Order(Base):
    """A sales order: converted from a quote in the CRM or filled by the ERP sync."""

    __tablename__ = "sales_orders"
    __table_args__ = (Index("ix_sales_orders_owner_date", "owner_id", "order_date"),
                      Index("ix_sales_orders_customer_date", "customer_id", "order_date"),
                      Index("ix_sales_orders_date_id", "order_date", "id"),  # the list, paged by keyset
                      Index("ix_sales_orders_currency", "currency"))  # a report's "all in one currency?" check

    id: Mapped[intpk]
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("sales_quotes.id", ondelete="SET NULL"))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("sales_opportunities.id", ondelete="SET NULL"))
    order_date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    total: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    list_total: Mapped[decimal.Decimal | None]
    coupon_code: Mapped[str | None] = mapped_column(String(32))  # the code applied (its use: sales_coupon_redemptions)
    coupon_discount: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    source: Mapped[str] = mapped_column(String(8), default="crm")
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order", cascade="all, delete-orphan",
                                                    order_by="OrderLine.id", lazy="selectin")
    customer = relationship("Customer")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.number


class OrderLine(Base):
    __tablename__ = "sales_order_lines"

    id: Mapped[intpk]
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("sales_products.id", ondelete="SET NULL"), index=True)
    description: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[decimal.Decimal] = mapped_column(Quantity)
    list_price: Mapped[decimal.Decimal | None]
    unit_price: Mapped[decimal.Decimal]
    discount_percent: Mapped[decimal.Decimal] = mapped_column(Percent, default=decimal.Decimal("0"))
    line_total: Mapped[decimal.Decimal]

    order: Mapped[Order] = relationship(back_populates="lines")


class Invoice(Base):
    """An invoice as the ERP's finance knows it; ``amount_paid`` follows the payments."""

    __tablename__ = "sales_invoices"
    __table_args__ = (Index("ix_sales_invoices_owner_due", "owner_id", "due_date"),
                      Index("ix_sales_invoices_currency", "currency"))

    id: Mapped[intpk]
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("sales_orders.id", ondelete="SET NULL"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    invoice_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    amount_total: Mapped[decimal.Decimal]
    amount_paid: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    state: Mapped[str] = mapped_column(String(16), default="open")
    source: Mapped[str] = mapped_column(String(8), default="crm")
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    __mapper_args__ = {"version_id_col": version}

    @property
    def amount_due(self) -> decimal.Decimal:
        if self.state in ("cancelled", "draft"):
            return decimal.Decimal("0.00")
        return max(decimal.Decimal("0.00"), (self.amount_total or 0) - (self.amount_paid or 0))

    def __str__(self) -> str:
        return self.number


class Payment(Base):
    __tablename__ = "sales_payments"
    __table_args__ = (Index("ix_sales_payments_currency", "currency"),)

    id: Mapped[intpk]
    invoice_id: Mapped[int] = mapped_column(ForeignKey("sales_invoices.id", ondelete="CASCADE"), index=True)
    paid_on: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[decimal.Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    reference: Mapped[str | None] = mapped_column(String(120), unique=True)
    source: Mapped[str] = mapped_column(String(8), default="crm")
    created_at: Mapped[created_ts]
