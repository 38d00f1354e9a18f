"""Customer identities: a customer's ids on messaging platforms (openid, unionid, WeCom, QQ, Weibo)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, created_ts, intpk
from ..i18n import lazy_gettext as _l
from . import customer  # noqa: F401 - the classes its relationships name, mapped with it

# The kinds of identity, with the words shown for them. Those in SCOPED are ids an app or corp gives out
# (a WeChat openid differs per Official Account, a WeCom external userid per corp): their ``account`` names
# the app id or corp id; the others are global and their ``account`` is "".
IDENTITY_LABELS: dict[str, Any] = {
    "wechat_openid": _l("WeChat openid"), "wechat_unionid": _l("WeChat unionid"), "wechat_id": _l("WeChat ID"),
    "wecom_external_userid": _l("WeCom external contact"), "qq": "QQ", "weibo": _l("Weibo")}
IDENTITY_PLATFORMS = tuple(IDENTITY_LABELS)
SCOPED = ("wechat_openid", "wecom_external_userid")


class CustomerIdentity(Base):
    """One id of a customer on a platform; an id belongs to one customer only."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("platform", "account", "value", name="uq_customer_identities_key"),)

    id: Mapped[intpk]
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32), info={"choices": IDENTITY_PLATFORMS})
    account: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(32), default="manual")  # manual, contact, channel, oauth, link
    created_at: Mapped[created_ts]

    customer = relationship("Customer")

    def __str__(self) -> str:
        return f"{IDENTITY_LABELS.get(self.platform, self.platform)}: {self.value}"
