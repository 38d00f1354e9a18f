"""The marketing REST API under /api/v1/marketing and the public tracking pages under /m."""
from __future__ import annotations

from typing import Any


def blueprints() -> list[Any]:
    from . import preferences, public, rest  # noqa: F401 - preferences adds its pages to public.bp

    return [rest.blp, public.bp]
