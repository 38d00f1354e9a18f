"""Hook specifications the marketing plugin owns: channel providers other plugins add (SMS, WeChat...).

Added to the plugin manager when the marketing plugin registers (its ``CRM_HOOKSPECS``). A plugin that
implements one without requiring marketing marks the impl ``optionalhook=True``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from crmcore import hookspec

if TYPE_CHECKING:
    from .channels import ChannelProvider


@hookspec
def crm_marketing_channels() -> list[ChannelProvider]:
    """Return the channel providers the plugin adds (see :class:`plugins.marketing.channels.ChannelProvider`).

    One provider per channel name (``email``, ``sms``, ``wechat``...); a later plugin's provider for a
    channel replaces an earlier one. Called when a send starts and for each batch.
    """
