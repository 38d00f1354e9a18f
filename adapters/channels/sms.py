"""The ``sms`` channel: the vendor named by ``SMS_VENDOR`` (aliyun, tencent); what both share is in ``sms_common``."""
from __future__ import annotations

from typing import Any

from crmcore.channels import Outcome, Outgoing
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from .sms_common import failed, phone_address


def vendor_of(ctx: ServiceContext) -> str:
    return str(ctx.settings.get("SMS_VENDOR") or "").strip().lower()


class SmsChannel:
    """The ``sms`` channel: sends through the vendor ``SMS_VENDOR`` names (``aliyun`` or ``tencent``)."""

    channel = "sms"

    def _vendor(self, ctx: ServiceContext) -> Any:
        vendor = vendor_of(ctx)
        if vendor == "aliyun":
            from .sms_aliyun import AliyunSms

            return AliyunSms()
        if vendor == "tencent":
            from .sms_tencent import TencentSms

            return TencentSms()
        return None

    def address(self) -> Any:
        return phone_address()

    def configured(self, ctx: ServiceContext) -> str | None:
        vendor = self._vendor(ctx)
        if vendor is None:
            return str(_("Set SMS_VENDOR to aliyun or tencent to send SMS."))
        return vendor.configured(ctx)  # type: ignore[no-any-return]

    def send(self, ctx: ServiceContext, messages: list[Outgoing]) -> list[Outcome]:
        vendor = self._vendor(ctx)
        if vendor is None:
            return failed(messages, str(_("Set SMS_VENDOR to aliyun or tencent to send SMS.")))
        return vendor.send(ctx, messages)  # type: ignore[no-any-return]
