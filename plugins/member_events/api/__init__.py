"""The member events REST API under /api/v1/events and the invitees' answer pages under /events."""
from __future__ import annotations

from typing import Any


def blueprints() -> list[Any]:
    from . import public, rest

    return [rest.blp, public.bp]
