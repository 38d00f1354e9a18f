"""The sales plugin's tables: leads, stages, opportunities, catalogue, quotes, orders, invoices,
activities, plans, custom metrics (quotes to payments are declared in ``models_billing``). Money is
``Numeric(18, 2)`` with a currency column; event times are UTC (``UTCDateTime``); business days
(order date, due date) are plain dates."""
from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.db import Base, created_ts, intpk, str255, updated_ts

# quotes, orders, invoices and payments live in models_billing; imported from here as every sales model is
from .models_billing import Invoice, Order, OrderLine, Payment, Quote, QuoteLine
from .models_coupons import Coupon, CouponProgramme, CouponRedemption
from .webform_models import LeadForm

LEAD_STATUSES = ("new", "working", "qualified", "disqualified")
LEAD_CHANNELS = ("web", "import", "api", "phone", "email", "wechat", "wecom", "sms", "qq", "weibo", "trade_fair", "referral",
                 "taobao", "other")
OPPORTUNITY_STATUSES = ("open", "won", "lost")
QUOTE_STATUSES = ("draft", "pending_approval", "approved", "rejected", "sent", "accepted", "declined", "ordered",
                  "cancelled")
ORDER_STATUSES = ("draft", "confirmed", "delivered", "cancelled")
INVOICE_STATES = ("draft", "open", "partial", "paid", "cancelled")
ACTIVITY_KINDS = ("task", "call", "visit")
ACTIVITY_STATUSES = ("planned", "done", "cancelled")
VISIT_OUTCOMES = ("success", "failure")
SOURCES = ("crm", "erp", "import")
EXPENSE_CATEGORIES = ("travel", "entertainment", "samples", "gifts", "marketing", "other")


class ExchangeRate(Base):
    """How many units of the base currency (settings ``DEFAULT_CURRENCY``) one unit is worth."""

    __tablename__ = "sales_exchange_rates"

    id: Mapped[intpk]
    currency: Mapped[str] = mapped_column(String(3), unique=True)
    rate: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 8))
    updated_at: Mapped[updated_ts]


class Lead(Base):
    __tablename__ = "sales_leads"
    __table_args__ = (Index("ix_sales_leads_owner_status", "owner_id", "status"),)

    id: Mapped[intpk]
    name: Mapped[str255] = mapped_column(String(255))
    company: Mapped[str | None] = mapped_column(String(255))
    contact_name: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(255))
    wechat: Mapped[str | None] = mapped_column(String(120))
    source_channel: Mapped[str] = mapped_column(String(32), default="api")
    campaign: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default="new")
    message: Mapped[str | None] = mapped_column(Text)
    estimated_amount: Mapped[decimal.Decimal | None]
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("sales_opportunities.id", ondelete="SET NULL", use_alter=True,
                   name="fk_sales_leads_opportunity_id_sales_opportunities"))
    disqualified_reason: Mapped[str | None] = mapped_column(String(255))
    qualified_at: Mapped[dt.datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.company or self.name


class Stage(Base):
    """An opportunity stage: data, editable by admins, ordered by ``sequence``."""

    __tablename__ = "sales_stages"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    sequence: Mapped[int] = mapped_column(default=10)
    probability: Mapped[int] = mapped_column(default=0)
    is_won: Mapped[bool] = mapped_column(default=False)
    is_lost: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_ts]

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost

    def __str__(self) -> str:
        return self.name


class Opportunity(Base):
    __tablename__ = "sales_opportunities"
    __table_args__ = (Index("ix_sales_opportunities_owner_status", "owner_id", "status"),
                      Index("ix_sales_opportunities_stage", "stage_id"),
                      Index("ix_sales_opportunities_currency", "currency"))  # a report's currency check

    id: Mapped[intpk]
    name: Mapped[str255] = mapped_column(String(255))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    amount: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    expected_close_date: Mapped[dt.date | None] = mapped_column(Date)
    probability: Mapped[int] = mapped_column(default=0)
    stage_id: Mapped[int] = mapped_column(ForeignKey("sales_stages.id"))
    status: Mapped[str] = mapped_column(String(8), default="open")
    lost_reason: Mapped[str | None] = mapped_column(String(255))
    competitor: Mapped[str | None] = mapped_column(String(255))
    source_channel: Mapped[str | None] = mapped_column(String(32))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("sales_leads.id", ondelete="SET NULL"))
    stage_entered_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    cycle_seconds: Mapped[int | None]
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    stage: Mapped[Stage] = relationship(lazy="joined")
    customer = relationship("Customer", lazy="joined")
    owner = relationship("User", foreign_keys=[owner_id])

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class StageHistory(Base):
    """One stay of an opportunity in a stage; ``left_at`` is empty while it is still there."""

    __tablename__ = "sales_stage_history"
    __table_args__ = (Index("ix_sales_stage_history_opportunity", "opportunity_id", "entered_at"),)

    id: Mapped[intpk]
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("sales_opportunities.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("sales_stages.id"))
    entered_at: Mapped[dt.datetime]
    left_at: Mapped[dt.datetime | None]
    duration_seconds: Mapped[int | None]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    stage: Mapped[Stage] = relationship(lazy="joined")


class Product(Base):
    __tablename__ = "sales_products"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str255] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(120), index=True)
    unit: Mapped[str] = mapped_column(String(16), default="pcs")
    list_price: Mapped[decimal.Decimal] = mapped_column(default=decimal.Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    cost: Mapped[decimal.Decimal | None]
    active: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(8), default="crm")
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class PriceList(Base):
    __tablename__ = "sales_price_lists"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(8), default="crm")
    created_at: Mapped[created_ts]

    items: Mapped[list["PriceListItem"]] = relationship(back_populates="price_list", cascade="all, delete-orphan",
                                                        order_by="PriceListItem.id")

    def __str__(self) -> str:
        return self.name


class PriceListItem(Base):
    __tablename__ = "sales_price_list_items"
    __table_args__ = (UniqueConstraint("price_list_id", "product_id", name="uq_sales_price_list_items_product"),)

    id: Mapped[intpk]
    price_list_id: Mapped[int] = mapped_column(ForeignKey("sales_price_lists.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("sales_products.id", ondelete="CASCADE"), index=True)
    price: Mapped[decimal.Decimal]

    price_list: Mapped[PriceList] = relationship(back_populates="items")
    product: Mapped[Product] = relationship(lazy="joined")


class Activity(Base):
    """A task, call or visit, planned and then done; done ones also go on the core timeline."""

    __tablename__ = "sales_activities"
    __table_args__ = (Index("ix_sales_activities_owner_kind", "owner_id", "kind", "done_at"),)

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str255] = mapped_column(String(255))
    notes: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("sales_opportunities.id", ondelete="SET NULL"),
                                                       index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_at: Mapped[dt.datetime | None]
    done_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(12), default="planned")
    outcome: Mapped[str | None] = mapped_column(String(12))
    outcome_note: Mapped[str | None] = mapped_column(Text)
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interactions.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.subject


class Expense(Base):
    """A sales expense (travel, entertainment, samples) of a rep, optionally for a customer."""

    __tablename__ = "sales_expenses"
    __table_args__ = (Index("ix_sales_expenses_owner_date", "owner_id", "spent_on"),)

    id: Mapped[intpk]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("sales_opportunities.id", ondelete="SET NULL"))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("sales_activities.id", ondelete="SET NULL"))
    spent_on: Mapped[dt.date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(32), default="other", info={"choices": EXPENSE_CATEGORIES})
    amount: Mapped[decimal.Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    description: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[created_ts]


class SalesTarget(Base):
    """A monthly sales plan: for one rep (``user_id``), one team (``team_id``) or the company (neither)."""

    __tablename__ = "sales_targets"
    __table_args__ = (UniqueConstraint("year", "month", "user_id", "team_id", name="uq_sales_targets_subject"),)

    id: Mapped[intpk]
    year: Mapped[int]
    month: Mapped[int]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    amount: Mapped[decimal.Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]


class Metric(Base):
    """An admin-defined metric: an aggregate over one entity's records matching declarative conditions."""

    __tablename__ = "sales_metrics"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    entity: Mapped[str] = mapped_column(String(32))
    conditions: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    aggregate: Mapped[str] = mapped_column(String(8), default="count")
    field: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    shares: Mapped[list["MetricShare"]] = relationship(back_populates="metric", cascade="all, delete-orphan",
                                                       lazy="selectin")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.label


class MetricShare(Base):
    """A metric shared with a role (position) or a single user."""

    __tablename__ = "sales_metric_shares"
    __table_args__ = (UniqueConstraint("metric_id", "role_id", "user_id", name="uq_sales_metric_shares_target"),)

    id: Mapped[intpk]
    metric_id: Mapped[int] = mapped_column(ForeignKey("sales_metrics.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[int | None] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))

    metric: Mapped[Metric] = relationship(back_populates="shares")


class KpiSnapshot(Base):
    """A KPI value computed by ``crm sales kpis recompute``, kept for the dashboard and history."""

    __tablename__ = "sales_kpi_snapshots"
    __table_args__ = (UniqueConstraint("period", "subject", "kpi", "currency", name="uq_sales_kpi_snapshots_key"),)

    id: Mapped[intpk]
    period: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(32))  # company, rep:<id>, team:<id>
    kpi: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    value: Mapped[decimal.Decimal | None] = mapped_column(Numeric(20, 4))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[created_ts]


MODELS: list[type] = [ExchangeRate, Lead, Stage, Opportunity, StageHistory, Product, PriceList, PriceListItem, Quote,
                      QuoteLine, Order, OrderLine, Invoice, Payment, Activity, Expense, SalesTarget, Metric, MetricShare,
                      KpiSnapshot, LeadForm, CouponProgramme, Coupon, CouponRedemption]
