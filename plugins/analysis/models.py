"""The analysis plugin's tables: segment rules, per-customer results of each run (RFM, CLV,
churn), fitted model parameters, association rules and tag rules. Results are keyed by the
customer and the run date, so history stays and the latest run is what the pages show."""
from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.contracts import MERGE_DROP_DERIVED
from crmcore.db import Base, created_ts, intpk, updated_ts

Amount = Numeric(18, 2)
# Scores are derived from orders: when two customers merge, the loser's are dropped (the next
# run scores the winner on the joined history); undoing the merge puts them back.
DERIVED = {"info": {"merge_policy": MERGE_DROP_DERIVED}}


class SegmentRule(Base):
    """A named RFM segment: the score ranges it covers; the first matching rule (by priority) wins."""

    __tablename__ = "analysis_segment_rules"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    priority: Mapped[int] = mapped_column(default=100)
    r_min: Mapped[int] = mapped_column(default=1)
    r_max: Mapped[int] = mapped_column(default=5)
    f_min: Mapped[int] = mapped_column(default=1)
    f_max: Mapped[int] = mapped_column(default=5)
    m_min: Mapped[int] = mapped_column(default=1)
    m_max: Mapped[int] = mapped_column(default=5)
    action: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_ts]

    def __str__(self) -> str:
        return self.label


class RfmScore(Base):
    """A customer's recency (days), frequency (orders), monetary value and scores on a run date."""

    __tablename__ = "analysis_rfm_scores"
    __table_args__ = (UniqueConstraint("run_date", "customer_id", name="uq_analysis_rfm_scores_run_customer"),
                      Index("ix_analysis_rfm_scores_customer", "customer_id", "run_date"), DERIVED)

    id: Mapped[intpk]
    run_date: Mapped[dt.date] = mapped_column(Date)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    recency_days: Mapped[int]
    frequency: Mapped[int]
    monetary: Mapped[decimal.Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    r_score: Mapped[int]
    f_score: Mapped[int]
    m_score: Mapped[int]
    segment: Mapped[str | None] = mapped_column(String(64))


class ClvScore(Base):
    """BG/NBD and Gamma-Gamma predictions for a customer on a run date (time in days).

    The model's inputs are not RFM's recency and frequency: ``repeat_purchases`` counts purchase days
    after the first, ``t_x_days`` runs from the first to the last purchase, ``age_days`` from the first
    purchase to the run date. ``p_alive`` is empty for one-time buyers: BG/NBD lets a customer drop out
    only after a repeat purchase, so it would say 1 for all of them.
    """

    __tablename__ = "analysis_clv_scores"
    __table_args__ = (UniqueConstraint("run_date", "customer_id", name="uq_analysis_clv_scores_run_customer"),
                      Index("ix_analysis_clv_scores_customer", "customer_id", "run_date"), DERIVED)

    id: Mapped[intpk]
    run_date: Mapped[dt.date] = mapped_column(Date)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    repeat_purchases: Mapped[int]
    t_x_days: Mapped[int]
    age_days: Mapped[int]
    average_spend: Mapped[decimal.Decimal] = mapped_column(Amount)
    expected_purchases: Mapped[float] = mapped_column(Float)
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_spend: Mapped[decimal.Decimal] = mapped_column(Amount)
    clv: Mapped[decimal.Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))


class ChurnScore(Base):
    """The propensity model's probability that a customer buys in the next window, and churn = 1 - that."""

    __tablename__ = "analysis_churn_scores"
    __table_args__ = (UniqueConstraint("run_date", "customer_id", name="uq_analysis_churn_scores_run_customer"),
                      Index("ix_analysis_churn_scores_customer", "customer_id", "run_date"), DERIVED)

    id: Mapped[intpk]
    run_date: Mapped[dt.date] = mapped_column(Date)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    purchase_probability: Mapped[float] = mapped_column(Float)
    churn_score: Mapped[float] = mapped_column(Float)


class ModelFit(Base):
    """Parameters and quality of one fitted model (``bgnbd``, ``gamma_gamma``, ``churn``) on a run date."""

    __tablename__ = "analysis_model_fits"
    __table_args__ = (Index("ix_analysis_model_fits_kind", "kind", "run_date"),
                      {"info": {"crm_stamps": ("model_fits",)}})  # what a process keeps: is a forecast kept

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(32))
    run_date: Mapped[dt.date] = mapped_column(Date)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created_ts]


class AssociationRule(Base):
    """"Customers who bought A also bought B": support, confidence and lift over orders."""

    __tablename__ = "analysis_association_rules"
    __table_args__ = (UniqueConstraint("run_date", "antecedent_id", "consequent_id",
                                       name="uq_analysis_association_rules_pair"),
                      Index("ix_analysis_association_rules_antecedent", "antecedent_id", "run_date"))

    id: Mapped[intpk]
    run_date: Mapped[dt.date] = mapped_column(Date)
    antecedent_id: Mapped[int] = mapped_column(ForeignKey("sales_products.id", ondelete="CASCADE"))
    consequent_id: Mapped[int] = mapped_column(ForeignKey("sales_products.id", ondelete="CASCADE"))
    pair_count: Mapped[int]
    support: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    lift: Mapped[float] = mapped_column(Float)


class TagRule(Base):
    """Give customers ``tag`` while they meet ``conditions`` (JSON over the analysis metrics)."""

    __tablename__ = "analysis_tag_rules"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    tag: Mapped[str] = mapped_column(String(120))
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    last_applied_at: Mapped[dt.datetime | None]
    last_count: Mapped[int | None]
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    def __str__(self) -> str:
        return self.name


MODELS = [SegmentRule, RfmScore, ClvScore, ChurnScore, ModelFit, AssociationRule, TagRule]
