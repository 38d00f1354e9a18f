"""The analysis REST API under /api/v1/analysis (flask-smorest; token-authenticated by the core)."""
from __future__ import annotations

from typing import Any


def blueprints() -> list[Any]:
    from .routes import blp

    return [blp]
