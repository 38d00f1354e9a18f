"""The social plugin's codes in words (zh_CN and en): sources, reward kinds, roles, states and refusals."""
from __future__ import annotations

from typing import Any

from crmcore.i18n import lazy_gettext as _l

SOURCES: dict[str, Any] = {"form": _l("Lead form"), "api": _l("API"), "wechat": _l("WeChat QR code"),
                           "link": _l("Referral link"), "admin": _l("Entered by hand"), "import": _l("Import"),
                           "wecom": _l("WeCom contact me")}
REWARD_KINDS: dict[str, Any] = {"points": _l("Loyalty points"), "coupon": _l("Coupon")}
REWARD_ROLES: dict[str, Any] = {"referrer": _l("Referrer"), "referee": _l("New customer")}
REWARD_STATES: dict[str, Any] = {"pending": _l("Pending (return window)"), "granted": _l("Granted"),
                                 "refused": _l("Refused"), "cancelled": _l("Cancelled")}
REFUSALS: dict[str, Any] = {
    "self_referral": _l("Self-referral"), "same_phone": _l("Same phone number as the referrer"),
    "same_email": _l("Same e-mail address as the referrer"), "same_device": _l("Same device as the referrer"),
    "same_address": _l("Same address as the referrer"), "not_first_order": _l("Not the first order"),
    "already_rewarded": _l("Already rewarded"), "order_cancelled": _l("Order cancelled or no longer paid"),
    "no_payer": _l("No plugin pays this kind of reward"), "programme_off": _l("Referral programme switched off"),
    "coupon_not_issued": _l("The coupon programme refused to issue a coupon")}


def word(labels: dict[str, Any], code: str | None) -> str:
    """The code in the reader's words ('' for none)."""
    if not code:
        return ""
    return str(labels.get(code, code))
