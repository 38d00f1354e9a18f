"""The reports plugin's tables: saved report definitions, who they are shared with, and their e-mail schedule."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.db import Base, UTCDateTime, created_ts, intpk, updated_ts

DISPLAYS = ("table", "pivot", "bar", "line", "stacked_bar", "pie")
SCHEDULES = ("none", "daily", "weekly", "monthly")


class Report(Base):
    """A report definition: an entity, filters in the core condition language, one or two groupings,
    measures, sort and limit, how it is shown, whether it is on its readers' home page, and when it is mailed."""

    __tablename__ = "reports"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    entity: Mapped[str] = mapped_column(String(64))
    filters: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    group_by: Mapped[list[Any]] = mapped_column(default=list)  # [{"field": ..., "bucket": ...}], at most two
    measures: Mapped[list[Any]] = mapped_column(default=list)  # [{"agg": ..., "field": ...}]
    sort: Mapped[str] = mapped_column(String(16), default="group")  # group | measure
    sort_desc: Mapped[bool] = mapped_column(default=False)
    row_limit: Mapped[int] = mapped_column(default=500)
    display: Mapped[str] = mapped_column(String(16), default="table", info={"choices": DISPLAYS})
    on_home: Mapped[bool] = mapped_column(default=False)
    schedule: Mapped[str] = mapped_column(String(8), default="none", info={"choices": SCHEDULES})
    schedule_weekday: Mapped[int] = mapped_column(default=0)  # 0 Monday .. 6 Sunday (weekly)
    schedule_day: Mapped[int] = mapped_column(default=1)  # 1..28 (monthly)
    schedule_time: Mapped[str] = mapped_column(String(5), default="08:00")  # HH:MM, the company's time zone
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1, nullable=False)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    shares: Mapped[list["ReportShare"]] = relationship(cascade="all, delete-orphan", lazy="selectin",
                                                       order_by="ReportShare.id")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class ReportShare(Base):
    """A role or one user a report is shared with: they may run it, see it on their home page, receive it."""

    __tablename__ = "report_shares"
    __table_args__ = (UniqueConstraint("report_id", "role_id", "user_id"),)

    id: Mapped[intpk]
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[int | None] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
