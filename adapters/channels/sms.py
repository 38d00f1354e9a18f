"""The ``sms`` channel: sends through the SMS channel account (its vendor: aliyun, tencent); shared code in ``sms_common``.

The account is the one place of the SMS configuration, for sends as for callbacks: the sign name is its account
id, the vendor, keys, default template and API address its fields (:func:`sms_settings` gives them to the vendor
modules under their ``SMS_<VENDOR>_*`` names); no ``CRM_SMS_*`` setting is read, not even as a fallback.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.channels import Outcome, Outgoing
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from .models import ChannelAccount
from .sms_common import ACCOUNT_FIELDS, VENDORS, failed, phone_address

def sms_settings(row: Any) -> tuple[str, dict[str, Any]]:
    """The vendor of an SMS account and the settings its vendor module reads (the sign name is the account)."""
    vendor = str((row.config or {}).get("vendor") or "")
    prefix = f"SMS_{vendor.upper()}_"
    parts = {"config": row.config or {}, "secrets": row.secrets or {}}
    settings = {f"{prefix}{name}": parts[where].get(key) for name, (where, key) in ACCOUNT_FIELDS.get(vendor, {}).items()}
    return vendor, {**settings, f"{prefix}SIGN_NAME": row.account}


def sms_account(ctx: ServiceContext) -> ChannelAccount | None:
    """The first enabled SMS channel account of a known vendor with its keys (the one sends go through); None
    without one."""
    stmt = (select(ChannelAccount).where(ChannelAccount.platform == "sms", ChannelAccount.enabled.is_(True))
            .order_by(ChannelAccount.id))
    for row in ctx.session.scalars(stmt):
        secrets = row.secrets or {}
        if (row.config or {}).get("vendor") in VENDORS and secrets.get("key_id") and secrets.get("key_secret"):
            return row
    return None


def no_account() -> str:
    return str(_("Add an SMS channel account with its vendor's keys under Channels to send SMS."))


class SmsChannel:
    """The ``sms`` channel: sends through the vendor of the SMS channel account (:func:`sms_account`)."""

    channel = "sms"

    def _vendor(self, ctx: ServiceContext) -> tuple[Any, Any] | None:
        """The vendor's provider and a context whose ``SMS_*`` settings are the account's only."""
        from .account_context import AccountContext

        row = sms_account(ctx)
        if row is None:
            return None
        vendor, overlay = sms_settings(row)
        actx = AccountContext(ctx, overlay, own=("SMS_",))
        if vendor == "aliyun":
            from .sms_aliyun import AliyunSms

            return AliyunSms(), actx
        from .sms_tencent import TencentSms

        return TencentSms(), actx

    def address(self) -> Any:
        return phone_address()

    def configured(self, ctx: ServiceContext) -> str | None:
        found = self._vendor(ctx)
        if found is None:
            return no_account()
        vendor, actx = found
        return vendor.configured(actx)  # type: ignore[no-any-return]

    def send(self, ctx: ServiceContext, messages: list[Outgoing]) -> list[Outcome]:
        found = self._vendor(ctx)
        if found is None:
            return failed(messages, no_account())
        vendor, actx = found
        return vendor.send(actx, messages)  # type: ignore[no-any-return]
