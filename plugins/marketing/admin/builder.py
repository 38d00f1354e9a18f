"""The condition builder's endpoints the marketing admin pages share (audiences, journeys): its fields over
customers, the live size and sample of the condition being edited, and the posted condition read back."""
from __future__ import annotations

import json
from typing import Any

from flask import jsonify, request
from flask_admin import expose

from crmcore.admin import policy_form
from crmcore.errors import CRMError
from crmcore.runtime import ServiceContext
from crmcore.services import condition_fields


def read_condition(text: str | None) -> Any:
    """The builder's hidden field as a condition; text that is no JSON stays text, for the service to refuse."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class BuilderEndpoints:
    """``builder/meta/customer`` and ``builder/matches/customer`` for a marketing admin view (``marketing.manage``).

    A view changes what "matches" counts by overriding :meth:`matches` (an audience subtracts its exclusions)."""

    def matches(self, ctx: ServiceContext, body: dict[str, Any]) -> dict[str, Any]:
        """How many customers meet the condition being edited, with a few names (nothing saved)."""
        return condition_fields.matches(ctx, "customer", body)

    @expose("/builder/meta/<entity>")
    def builder_meta(self, entity: str) -> Any:
        """The condition builder's fields over customers (labels in the reader's language)."""
        ctx = self.ctx()  # type: ignore[attr-defined]
        if not ctx.can("marketing.manage") or entity != "customer":
            return self.forbidden()  # type: ignore[attr-defined]
        try:
            return jsonify(policy_form.builder_meta(ctx, entity))
        except CRMError as exc:
            return jsonify(exc.to_dict()), exc.status

    @expose("/builder/matches/<entity>", methods=["POST"])
    def builder_matches(self, entity: str) -> Any:
        """The live size and sample of the condition being edited."""
        ctx = self.ctx()  # type: ignore[attr-defined]
        if not ctx.can("marketing.manage") or entity != "customer":
            return self.forbidden()  # type: ignore[attr-defined]
        body = request.get_json(silent=True)
        try:
            return jsonify(self.matches(ctx, body if isinstance(body, dict) else {}))
        except CRMError as exc:
            ctx.session.rollback()
            return jsonify(exc.to_dict()), exc.status
