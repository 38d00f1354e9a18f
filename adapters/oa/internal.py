"""The ``internal`` provider: the embedded approval engine, used when the company has no OA.

Reviewers get tasks in the CRM and decide in the admin (Approvals) or through
``/api/v1/approvals``; the core's approval service keeps the state, so nothing travels.
"""
from __future__ import annotations

from typing import Any

from .base import OAProvider, OAState


class InternalProvider(OAProvider):
    name = "internal"
    label = "Internal (this CRM)"
    local = True

    def submit(self, submission: dict[str, Any]) -> OAState:
        return OAState(external_id=f"internal-{submission['request_id']}", status="pending")

    def find(self, idempotency_key: str) -> OAState | None:
        return None

    def cancel(self, external_id: str) -> None:
        return None
