"""The public portal's rate limit: requests per client and action in fixed time windows, counted by the
core's limiter (``crmcore.services.ratelimit``) in the database so every web worker shares the count.
A client is an HMAC (the app's secret key) of the action and the IP address: no address is stored."""
from __future__ import annotations

import datetime as dt
from typing import Any

from crmcore.config import setting_int
from crmcore.services import ratelimit as core
from crmcore.services.ratelimit import Verdict

DEFAULT_LIMIT = 20
DEFAULT_WINDOW = 3600

__all__ = ["DEFAULT_LIMIT", "DEFAULT_WINDOW", "Verdict", "hit", "settings_of"]


def settings_of(settings: dict[str, Any]) -> tuple[int, int]:
    """``(limit, window seconds)`` from ``SERVICE_PORTAL_RATE_LIMIT`` and ``SERVICE_PORTAL_RATE_WINDOW``
    (a limit of 0 turns the rate limit off)."""
    return (setting_int(settings, "SERVICE_PORTAL_RATE_LIMIT", DEFAULT_LIMIT),
            setting_int(settings, "SERVICE_PORTAL_RATE_WINDOW", DEFAULT_WINDOW, minimum=1))


def hit(db: Any, settings: dict[str, Any], action: str, client: str, now: dt.datetime | None = None) -> Verdict:
    """Count one request of ``client`` (an IP address) for ``action`` and say whether it is allowed."""
    limit, window = settings_of(settings)
    return core.hit(db, settings, f"service-portal:{action}", client, limit=limit, window=window, now=now)
