"""The contract of a messaging channel adapter: what an inbound message looks like once verified and parsed.

Each platform's module (WeChat Official Account, WeCom customer contact, Alibaba Cloud and Tencent Cloud
SMS) verifies its callback (signature, timestamp, nonce, decryption) and turns it into :class:`Inbound`
records; ``adapters.channels.inbox.receive`` matches the sender to a customer, stores the message once
(``platform`` + ``account`` + ``msg_id`` is unique: a replayed or duplicate callback changes nothing),
puts it on the customer's timeline or in the unmatched queue, and may open or update a service ticket.
Sending goes through :mod:`crmcore.channels` providers (hook ``crm_channels``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

PLATFORMS = ("email", "wechat", "wecom", "sms", "qq", "weibo")
"""Identity and message platforms. A customer's identity is unique per platform (an openid per app id)."""


@dataclass
class Inbound:
    """One verified inbound message or event from a platform."""

    platform: str  # one of PLATFORMS
    account: str  # the receiving account: WeChat app id, WeCom corp id, SMS sign name, mailbox
    sender: str  # openid, WeCom external_userid, E.164 phone, e-mail address
    msg_id: str  # the platform's id of the message or event; with platform and account, the dedupe key
    kind: str  # "text", "image", "voice", "location", "link", "event", "receipt", ...
    received_at: dt.datetime  # aware UTC, from the platform's own timestamp where it gives one
    text: str | None = None
    event: str | None = None  # subscribe, unsubscribe, scan, click, add_external_contact, delivered, ...
    unionid: str | None = None  # WeChat's cross-app id, when the platform gives it
    scene: str | None = None  # a QR code's scene (referral codes ride on it), a menu key
    raw: dict[str, Any] = field(default_factory=dict)  # the parsed payload, never with a secret
