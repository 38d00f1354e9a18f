"""``POST /api/v1/<path>/bulk``: a plugin adds the bulk endpoint of its import kind in one call."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from .contract import AUDIT_MODES, ImportOptions

DEFAULT_MAX_ROWS = 1000


def bulk_schema(kind_name: str) -> type[Schema]:
    """The request body: ``{<kind_name>: [row, ...], "upsert": true, "audit": "row"}``."""
    return Schema.from_dict({
        kind_name: fields.List(fields.Dict(), required=True, validate=validate.Length(min=1),
                               metadata={"description": "The rows, each an object of the import's columns"}),
        "upsert": fields.Bool(load_default=True, metadata={"description": "Update records whose key exists"}),
        "audit": fields.Str(load_default="row", validate=validate.OneOf(AUDIT_MODES),
                            metadata={"description": "row: an audit entry per record; summary: one per batch"}),
    }, name=f"Bulk{kind_name.title().replace('_', '')}")


def bulk_import(ctx: Any, kind_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Run one bulk call: ``{"summary": {status: count}, "results": [per-row results]}``."""
    from .driver import Summary, get_kind, import_rows

    kind = get_kind(ctx, kind_name)
    results = import_rows(ctx, kind, data[kind_name], ImportOptions(update=data["upsert"], audit=data["audit"]))
    summary = Summary()
    for result in results:
        summary.add(result)
    return {"summary": summary.present(), "results": [r.to_dict(kind.key) for r in results]}


def add_bulk_route(blp: Any, kind_name: str, *, rule: str = "/bulk") -> None:
    """Add ``POST <blueprint prefix><rule>`` to a flask-smorest blueprint, loading rows of the import kind
    ``kind_name`` (authenticated; the kind's permission checked; at most its ``api_max_rows``, else 413)."""

    def view(data: dict[str, Any]) -> Any:
        from ..api import current_ctx

        return bulk_import(current_ctx(), kind_name, data), 200

    view.__name__ = f"bulk_{kind_name}"
    view.__doc__ = (f"Create or update many {kind_name} at once, by the import's key; each row succeeds or is "
                    f"rejected on its own (at most {DEFAULT_MAX_ROWS} rows per call by default, else 413)")
    blp.route(rule, methods=["POST"], endpoint=view.__name__)(blp.arguments(bulk_schema(kind_name))(view))
