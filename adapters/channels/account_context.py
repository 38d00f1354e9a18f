"""A service context whose settings are a channel account's, over (or instead of) the app's."""
from __future__ import annotations

from collections import ChainMap
from typing import Any

from crmcore.runtime import ServiceContext


class AccountContext:
    """A service context whose settings are the account's, over the app's (the platform modules read settings).
    Settings starting with ``own`` come from the account only: an app setting is no fallback for them."""

    def __init__(self, ctx: ServiceContext, overlay: dict[str, Any], own: tuple[str, ...] = ()) -> None:
        self._ctx = ctx
        base = {k: v for k, v in ctx.settings.items() if not k.startswith(own)} if own else ctx.settings
        self.settings = ChainMap({k: v for k, v in overlay.items() if v not in (None, "")}, base)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)
