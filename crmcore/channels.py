"""Channel providers: how a message leaves for a customer (e-mail, SMS, WeChat...), one per channel.

The interface every sender uses: marketing campaigns, the service's notifications and the channel adapters
(``adapters/channels``). A provider names its channel, the SQL expression of a customer's address on it
(an audience is snapshotted with it), says whether it is configured, and sends a batch of rendered
messages, answering per message. Errors of one message do not stop the batch; a provider that is down
raises :class:`ChannelDown` and the batch is retried later with the same message ids (receivers recognise
a repeated id). Providers are registered by the ``crm_channels`` hook; a later plugin's provider for a
channel replaces an earlier one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .runtime import ServiceContext


class ChannelDown(Exception):
    """The provider cannot send now (connection refused, throttled): retry the batch later."""


@dataclass
class Outgoing:
    """One rendered message for one recipient."""

    recipient_id: int
    address: str
    subject: str
    html: str | None
    text: str | None
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """What became of one message: sent (``ok``) or refused with a reason (never a secret)."""

    recipient_id: int
    ok: bool
    error: str | None = None


class ChannelProvider(Protocol):
    channel: str

    def address(self) -> Any:
        """The SQL expression of a customer's normalised address on this channel (NULL: none)."""

    def configured(self, ctx: ServiceContext) -> str | None:
        """None when the provider can send, else what to set, in the reader's words."""

    def send(self, ctx: ServiceContext, messages: list[Outgoing]) -> list[Outcome]:
        """Send a batch; one outcome per message. Raise :class:`ChannelDown` when nothing can go now."""


def providers(ctx: ServiceContext) -> dict[str, ChannelProvider]:
    """Every registered channel provider by channel (later plugins win)."""
    out: dict[str, ChannelProvider] = {}
    for result in ctx.hook.crm_channels():
        for provider in result or []:
            out[provider.channel] = provider
    return out
