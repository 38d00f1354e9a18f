"""The reader's words for the channel adapters' stored codes: platforms, statuses, modes, settings, events."""
from __future__ import annotations

from typing import Any

from crmcore.i18n import lazy_gettext as _l

PLATFORM_LABELS: dict[str, Any] = {"wechat": _l("WeChat Official Account"), "wecom": _l("WeCom"), "sms": _l("SMS"),
                                   "email": _l("E-mail"), "qq": "QQ", "weibo": _l("Weibo")}
STATUS_LABELS: dict[str, Any] = {"matched": _l("On the timeline"), "unmatched": _l("Waiting to be linked"),
                                 "lead": _l("Turned into a lead"), "ignored": _l("Not for the timeline")}
MODE_LABELS: dict[str, Any] = {"plain": _l("Plain text"), "safe": _l("Safe mode (encrypted)")}
SETTING_LABELS: dict[str, Any] = {"mode": _l("Message encryption"), "base_url": _l("API address"), "oauth_url": _l("Web authorisation address"),
                                  "welcome_text": _l("Welcome reply"), "replay_window": _l("Replay window (seconds)"),
                                  "app_secret": _l("Developer password"), "token": _l("Callback token"),
                                  "encoding_aes_key": _l("Message encryption key"), "account": _l("Developer ID"),
                                  "vendor": _l("SMS vendor"), "callback_token": _l("Callback URL token"),
                                  "contact_secret": _l("Customer contact secret"),
                                  "sender": _l("Group sends go out as (staff userid; empty: each customer's own staff)"),
                                  "key_id": _l("AccessKey ID / SecretId"), "key_secret": _l("AccessKey secret / SecretKey"),
                                  "template": _l("Default template code"),
                                  "template_param": _l("Parameter a plain text fills (Alibaba Cloud)"),
                                  "sdk_app_id": _l("SMS application id (SdkAppId, Tencent Cloud)"),
                                  "region": _l("Region (Tencent Cloud)")}
VENDOR_LABELS: dict[str, Any] = {"aliyun": _l("Alibaba Cloud SMS"), "tencent": _l("Tencent Cloud SMS")}
MATCH_LABELS: dict[str, Any] = {"identity": _l("by their id"), "unionid": _l("by their unionid"),
                                "phone": _l("by phone number"), "email": _l("by e-mail address"), "link": _l("by an agent")}


def label(table: dict[str, Any], code: str | None) -> str:
    """The words for ``code`` (an unknown code as it is; none as empty)."""
    if not code:
        return ""
    return str(table.get(code, code))
