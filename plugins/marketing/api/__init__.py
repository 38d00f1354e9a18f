"""The marketing REST API under /api/v1/marketing and the public tracking pages under /m."""
from __future__ import annotations

from typing import Any


def blueprints() -> list[Any]:
    from . import journeys, languages, preferences, public, rest  # noqa: F401 - they add their routes to rest.blp, public.bp

    return [rest.blp, journeys.blp, public.bp]
