"""The marketing plugin's tables: consents and the suppression list, audiences, message templates,
campaigns with the recipients snapshotted when a send starts, and what happened to each message."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.contracts import MERGE_KEEP_WINNER
from crmcore.db import Base, created_ts, intpk, updated_ts

CHANNELS = ("email", "sms", "wechat", "wecom", "phone")
PURPOSES = ("marketing", "service")
CONSENT_STATES = ("granted", "withdrawn", "pending")  # pending: a grant awaiting its double opt-in
CONSENT_SOURCES = ("form", "api", "import", "admin", "double_opt_in", "unsubscribe", "preference_page")
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complaint", "manual")
CAMPAIGN_KINDS = ("oneoff", "journey")
CAMPAIGN_STATES = ("draft", "scheduled", "running", "paused", "done", "cancelled")
RECIPIENT_STATES = ("pending", "sending", "sent", "failed", "held_out", "waiting")  # waiting: for the A/B winner
AB_METRICS = ("opened", "clicked")
EVENT_KINDS = ("delivered", "bounced", "opened", "clicked", "replied", "unsubscribed")


class Consent(Base):
    """One statement of a customer's consent for a channel and purpose, kept as evidence (PIPL): what the
    customer was shown (``text``), where (``source``), when. The latest row per channel and purpose counts."""

    __tablename__ = "marketing_consents"
    __table_args__ = (Index("ix_marketing_consents_latest", "customer_id", "channel", "purpose", "id"),)

    id: Mapped[intpk]
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16), info={"choices": CHANNELS})
    purpose: Mapped[str] = mapped_column(String(16), info={"choices": PURPOSES})
    status: Mapped[str] = mapped_column(String(16), info={"choices": CONSENT_STATES})
    source: Mapped[str] = mapped_column(String(32), info={"choices": CONSENT_SOURCES})
    text: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[created_ts]


class Suppression(Base):
    """An address no marketing send may reach, whatever the consents say (unsubscribed, bounced...)."""

    __tablename__ = "marketing_suppressions"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[intpk]
    channel: Mapped[str] = mapped_column(String(16), info={"choices": CHANNELS})
    address: Mapped[str] = mapped_column(String(255))  # normalised (lower-case e-mail, E.164 phone)
    reason: Mapped[str] = mapped_column(String(16), info={"choices": SUPPRESSION_REASONS})
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    created_at: Mapped[created_ts]


class Audience(Base):
    """Who a campaign reaches: customers matching ``condition`` (the core condition language over customers
    and the fields plugins compute), plus the listed members, minus the members of the ``exclude`` audiences."""

    __tablename__ = "marketing_audiences"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    condition: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    exclude: Mapped[list[Any]] = mapped_column(default=list)  # ids of audiences whose members are left out
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class AudienceMember(Base):
    """A customer put on an audience by hand, a CSV or the API (a static list)."""

    __tablename__ = "marketing_audience_members"
    __table_args__ = {"info": {"merge_policy": MERGE_KEEP_WINNER}}  # a merged pair on one list: one member

    audience_id: Mapped[int] = mapped_column(ForeignKey("marketing_audiences.id", ondelete="CASCADE"),
                                             primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True,
                                             index=True)
    added_at: Mapped[created_ts]


class MessageTemplate(Base):
    """An e-mail's subject, HTML and text parts with ``{{ customer.name }}``-style variables (sandboxed)."""

    __tablename__ = "marketing_templates"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default="email", info={"choices": CHANNELS})
    subject: Mapped[str] = mapped_column(String(255))
    html: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class Campaign(Base):
    """A one-off send of a template to an audience on a channel, with a held-out control group."""

    __tablename__ = "marketing_campaigns"
    __table_args__ = {"info": {"crm_stamps": ("journeys",)}}  # a journey's campaign running or not

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft", info={"choices": CAMPAIGN_STATES})
    kind: Mapped[str] = mapped_column(String(16), default="oneoff", info={"choices": CAMPAIGN_KINDS})
    channel: Mapped[str] = mapped_column(String(16), default="email", info={"choices": CHANNELS})
    purpose: Mapped[str] = mapped_column(String(16), default="marketing", info={"choices": PURPOSES})
    audience_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_audiences.id", ondelete="SET NULL"))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_templates.id", ondelete="SET NULL"))
    holdout_percent: Mapped[int] = mapped_column(default=0)
    # A/B/n: with variants, ab_test_percent of the recipients try them (0: everyone, split evenly); after
    # ab_hours the variant with the best ab_metric rate goes to the rest
    ab_test_percent: Mapped[int] = mapped_column(default=0)
    ab_metric: Mapped[str] = mapped_column(String(16), default="clicked", info={"choices": AB_METRICS})
    ab_hours: Mapped[int] = mapped_column(default=24)
    ab_decided_at: Mapped[dt.datetime | None]
    winner_variant_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_variants.id", ondelete="SET NULL", use_alter=True,
                   name="fk_marketing_campaigns_winner_variant_id_marketing_variants"))
    scheduled_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    variants: Mapped[list["Variant"]] = relationship(viewonly=True, order_by="Variant.label", lazy="selectin",
                                                     primaryjoin="Campaign.id == foreign(Variant.campaign_id)")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class Variant(Base):
    """One version of an A/B/n test: its label and template."""

    __tablename__ = "marketing_variants"
    __table_args__ = (UniqueConstraint("campaign_id", "label"),)

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(16))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_templates.id", ondelete="SET NULL"))


class Recipient(Base):
    """One customer of a started campaign (the audience snapshotted at the start): at most one message per
    (campaign, customer), whatever crashes and restarts happen while sending."""

    __tablename__ = "marketing_recipients"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id", "touch", name="uq_marketing_recipients_touch"),
                      Index("ix_marketing_recipients_work", "campaign_id", "status", "id"),
                      {"info": {"merge_policy": MERGE_KEEP_WINNER}})  # both reached by one campaign: one row

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    address: Mapped[str | None] = mapped_column(String(255))
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_variants.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="pending", info={"choices": RECIPIENT_STATES})
    reason: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(default=0)
    message_id: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[dt.datetime | None]
    touch: Mapped[int] = mapped_column(default=0)  # a journey's send: its step log row; 0 for a one-off send


class MarketingEvent(Base):
    """What happened to a message: delivered, bounced, opened, clicked (with the link), replied, unsubscribed."""

    __tablename__ = "marketing_events"
    __table_args__ = (Index("ix_marketing_events_campaign_kind", "campaign_id", "kind"),)

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("marketing_recipients.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), info={"choices": EVENT_KINDS})
    url: Mapped[str | None] = mapped_column(String(2000))
    detail: Mapped[str | None] = mapped_column(String(255))  # a bounce's status and recipient, a reply's subject
    at: Mapped[created_ts]


class TemplateTranslation(Base):
    """A template's subject, HTML and text in one language; a recipient in that language gets it."""

    __tablename__ = "marketing_template_translations"
    __table_args__ = (UniqueConstraint("template_id", "language"),)

    id: Mapped[intpk]
    template_id: Mapped[int] = mapped_column(ForeignKey("marketing_templates.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16))  # zh_CN, en, ja, ...
    subject: Mapped[str] = mapped_column(String(255))
    html: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[updated_ts]


class CustomerLanguage(Base):
    """The language a customer reads marketing messages in (set by them on the preference page, or the API)."""

    __tablename__ = "marketing_customer_languages"
    __table_args__ = {"info": {"merge_policy": MERGE_KEEP_WINNER}}

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[updated_ts]


MODELS: list[type] = [Consent, Suppression, Audience, AudienceMember, MessageTemplate, Campaign, Variant, Recipient,
                      MarketingEvent, TemplateTranslation, CustomerLanguage]


def _journey_models() -> list[type]:
    from .models_journeys import MODELS as JOURNEYS

    return JOURNEYS


MODELS += _journey_models()
