"""What the two SMS vendors (Alibaba Cloud, Tencent Cloud) share: phone numbers, template parameters, opt-out
replies, the callbacks' token and body, Beijing times, per-message failures."""
from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from crmcore.channels import Outcome, Outgoing
from crmcore.errors import AuthenticationRequired, BadRequest, NotFound
from crmcore.i18n import _
from crmcore.models import Contact, Customer
from crmcore.normalize import normalize_phone
from crmcore.runtime import ServiceContext

VENDORS = ("aliyun", "tencent")
# vendor -> {the vendor module's setting suffix: (where in the account, field)}
ACCOUNT_FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "aliyun": {"ACCESS_KEY_ID": ("secrets", "key_id"), "ACCESS_KEY_SECRET": ("secrets", "key_secret"),
               "TEMPLATE": ("config", "template"), "TEMPLATE_PARAM": ("config", "template_param"),
               "ENDPOINT": ("config", "base_url"), "CALLBACK_TOKEN": ("secrets", "callback_token")},
    "tencent": {"SECRET_ID": ("secrets", "key_id"), "SECRET_KEY": ("secrets", "key_secret"),
                "SDK_APP_ID": ("config", "sdk_app_id"), "REGION": ("config", "region"),
                "TEMPLATE": ("config", "template"), "ENDPOINT": ("config", "base_url"),
                "CALLBACK_TOKEN": ("secrets", "callback_token")},
}
BEIJING = dt.timezone(dt.timedelta(hours=8))  # both vendors write local times of China without a zone
MAX_CALLBACK_BYTES = 1024 * 1024
# replies that mean "stop sending me marketing SMS" (the "回T退订" the approved templates end with)
OPT_OUT = frozenset({"T", "TD", "N", "NO", "STOP", "UNSUBSCRIBE", "退订", "取消", "退订短信", "0000"})


def reply_event(text: str) -> str | None:
    """``unsubscribe`` for an opt-out reply (``T``, ``TD``, ``退订``... ignoring case, spaces and punctuation)."""
    word = "".join(ch for ch in text.upper() if ch.isalnum())
    return "unsubscribe" if word in OPT_OUT else None


def phone_address() -> Any:
    """A customer's E.164 mobile: the customer's own number, else its primary contact's mobile or phone."""
    contact = (select(func.coalesce(Contact.mobile_normalized, Contact.phone_normalized))
               .where(Contact.customer_id == Customer.id,
                      func.coalesce(Contact.mobile_normalized, Contact.phone_normalized).is_not(None))
               .order_by(Contact.is_primary.desc(), Contact.id).limit(1).scalar_subquery())
    return func.coalesce(Customer.phone_normalized, contact)


def template_of(ctx: ServiceContext, message: Outgoing, vendor: str) -> str | None:
    """The vendor template of a message: the marketing template's subject, else ``SMS_<VENDOR>_TEMPLATE``."""
    return (message.subject or "").strip() or (str(ctx.settings.get(f"SMS_{vendor.upper()}_TEMPLATE") or "").strip() or None)


def params_of(text: str | None) -> Any:
    """The template parameters a message's text gives: a JSON object or array as written, else the text."""
    body = (text or "").strip()
    if body[:1] in ("{", "["):
        try:
            value = json.loads(body)
        except ValueError:
            return body
        if isinstance(value, (dict, list)):
            return value
    return body


def describe(exc: Exception) -> str:
    """A connection failure named by its kind and host, never by its text (the URL may carry a signature)."""
    url = getattr(getattr(exc, "request", None), "url", None) or ""
    host = urlsplit(str(url)).netloc if url else ""
    return type(exc).__name__ + (f" ({host})" if host else "")


def missing(ctx: ServiceContext, vendor: str, names: tuple[str, ...]) -> str | None:
    """What the SMS channel account lacks to send (its field named in words); None when nothing."""
    from .labels import SETTING_LABELS

    for name in names:
        if not ctx.settings.get(f"SMS_{vendor.upper()}_{name}"):
            field = ACCOUNT_FIELDS[vendor].get(name, ("", "account"))[1]
            return str(_("The SMS channel account needs its %(field)s to send SMS.", field=SETTING_LABELS.get(field, field)))
    return None


def failed(messages: list[Outgoing], reason: str) -> list[Outcome]:
    return [Outcome(m.recipient_id, False, reason[:255]) for m in messages]


def check_token(ctx: ServiceContext, setting: str, args: Mapping[str, str], body: bytes) -> None:
    """Refuse a push without the secret token of the configured callback URL (``?token=``), or too large;
    without the setting the callback is not set up (404)."""
    expected = str(ctx.settings.get(setting) or "")
    if not expected:  # not set up: the same answer as an unknown URL
        raise NotFound(_("This callback is not set up."))
    if not hmac.compare_digest(str(args.get("token") or "").encode(), expected.encode()):
        raise AuthenticationRequired(_("The callback's token is wrong."))
    if len(body) > MAX_CALLBACK_BYTES:
        raise BadRequest(_("The callback is too large."))


def json_body(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(_("The callback is not JSON.")) from None


def beijing_time(text: Any, fallback: dt.datetime) -> dt.datetime:
    """``2017-01-01 00:00:00`` in China's time as aware UTC; the fallback when it is no such time."""
    try:
        local = dt.datetime.strptime(str(text or "").strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return fallback
    return local.replace(tzinfo=BEIJING).astimezone(dt.timezone.utc)


def e164(raw: Any, region: str = "CN") -> str | None:
    return normalize_phone(str(raw or ""), region)
