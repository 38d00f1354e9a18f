"""The condition builders' record picker: records of an entity found by name or number, and names of ids, as JSON."""
from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_admin import expose

from ..errors import CRMError
from ..services import record_picker
from .views import SecureView


class RecordPickerView(SecureView):
    """``GET /admin/record_picker/?entity=customer&q=张`` (suggestions) or ``&ids=3,7`` (their names): every
    logged-in user, limited to the records the entity's read permission and record rules let them see. Not in
    the menu: the builder pages call it."""

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        entity = request.args.get("entity", "")
        try:
            if "ids" in request.args:
                records = record_picker.labels(ctx, entity, request.args.get("ids", ""))
            else:
                records = record_picker.search(ctx, entity, request.args.get("q", ""))
        except CRMError as exc:
            ctx.session.rollback()
            return jsonify(exc.to_dict()), exc.status
        return jsonify({"records": records})
