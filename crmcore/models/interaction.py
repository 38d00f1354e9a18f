"""Interaction: one timeline of every touchpoint with a customer, any channel."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, created_ts, intpk, utcnow
from ..i18n import lazy_gettext as _l
from . import auth, customer  # noqa: F401 - the classes its relationships name, mapped with it

# The one list of interaction channels, with the words shown for them: the API, the admin, the importer and
# plugins (``log_interaction``) accept these and no other. A plugin logs its own touchpoints with one of
# them (``system`` for what it did by itself); there is no hook to add a channel.
CHANNEL_LABELS: dict[str, Any] = {
    "phone": _l("Phone"), "email": _l("E-mail"), "wechat": _l("WeChat"), "wecom": _l("WeCom"), "qq": "QQ", "weibo": _l("Weibo"),
    "sms": _l("SMS"), "web": _l("Web"), "visit": _l("Visit"), "meeting": _l("Meeting"), "chat": _l("Chat"),
    "system": _l("System"), "other": _l("Other")}
CHANNELS = tuple(CHANNEL_LABELS)
DIRECTIONS = ("inbound", "outbound", "internal")


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_customer_time", "customer_id", "occurred_at"),
                      Index("ix_interactions_time_id", "occurred_at", "id"))  # the list, paged by keyset

    id: Mapped[intpk]
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(32), info={"choices": CHANNELS})
    direction: Mapped[str] = mapped_column(String(16), default="inbound", info={"choices": DIRECTIONS})
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    entity_type: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64), default="manual")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created_ts]

    customer = relationship("Customer")
    contact = relationship("Contact")
    user = relationship("User")

    def __str__(self) -> str:
        return self.subject
