"""The service REST API under /api/v1/service, and the public self-service pages under /service."""
from __future__ import annotations

from typing import Any


def blueprints() -> list[Any]:
    from . import config, field, intake, quality, tickets
    from ..portal import bp as portal

    return [tickets.blp, config.blp, field.blp, quality.blp, intake.blp, portal]
