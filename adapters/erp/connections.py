"""ERP connections: create and change them (the secret is write-only), build their adapter, test them."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.db import utcnow
from crmcore.errors import AdapterError, NotFound, ValidationError
from crmcore.i18n import _
from crmcore.plugins import collected
from crmcore.services import outbox
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext

from .base import STREAMS, ErpAdapter
from .models import ErpConnection

FIELDS = ("name", "adapter", "settings", "streams", "ownership", "overlap_seconds", "timeout_seconds", "page_size",
          "push_enabled", "enabled")


def erp_adapters(ctx: ServiceContext) -> dict[str, Any]:
    """``{name: adapter class}`` the plugins register (``CRM_ERP_ADAPTERS`` / ``crm_register_erp_adapters``)."""
    return collected(ctx, "crm_register_erp_adapters", "ERP adapter")


def list_connections(ctx: ServiceContext, *, enabled: bool | None = None) -> list[ErpConnection]:
    stmt = select(ErpConnection).order_by(ErpConnection.name)
    if enabled is not None:
        stmt = stmt.where(ErpConnection.enabled.is_(enabled))
    return list(ctx.session.scalars(stmt))


def get_connection(ctx: ServiceContext, name: str) -> ErpConnection:
    conn = ctx.session.scalar(select(ErpConnection).where(ErpConnection.name == name))
    if conn is None:
        raise NotFound(_("No ERP connection named '%(name)s'.", name=name))
    return conn


def save_connection(ctx: ServiceContext, data: dict[str, Any], name: str | None = None) -> ErpConnection:
    """Create a connection or change one; ``secret`` is set only when given and never read back."""
    ctx.require("erp.sync.manage")
    conn = get_connection(ctx, name) if name else None
    data = dict(data)
    errors: dict[str, list[Any]] = {}
    if conn is None and not (data.get("name") or "").strip():
        errors["name"] = [_("A connection needs a name.")]
    adapter = data.get("adapter", conn.adapter if conn else None)
    if adapter not in erp_adapters(ctx):
        errors["adapter"] = [_("Choose one of: %(choices)s.", choices=", ".join(sorted(erp_adapters(ctx))))]
    unknown = [s for s in data.get("streams") or [] if s not in STREAMS]
    if unknown:
        errors["streams"] = [_("Unknown stream(s): %(names)s.", names=", ".join(unknown))]
    for rules in (data.get("ownership") or {}).values():
        if not isinstance(rules, dict) or any(v not in ("erp", "crm") for v in rules.values()):
            errors["ownership"] = [_("Give each field 'erp' or 'crm', per entity: %(example)s.",
                                     example='{"customer": {"email": "erp"}}')]
    for key in ("overlap_seconds", "timeout_seconds", "page_size"):
        if key in data and (not isinstance(data[key], int) or data[key] < (0 if key == "overlap_seconds" else 1)):
            errors[key] = [_("Must be a positive whole number.")]
    if errors:
        raise ValidationError(_("The connection is not valid."), errors=errors)
    with unit_of_work(ctx):
        if conn is None:
            conn = ErpConnection(settings={}, streams=[], ownership={})
            ctx.session.add(conn)
        apply_changes(conn, data, FIELDS)
        if data.get("secret"):
            conn.secret = data["secret"]
        outbox.resume(ctx.session, "erp")  # a changed connection is tried at the next delivery, not after the pause
    return conn


def build_adapter(ctx: ServiceContext, conn: ErpConnection) -> ErpAdapter:
    """The adapter object of a connection, with its settings, secret, timeout and page size."""
    cls = erp_adapters(ctx).get(conn.adapter)
    if cls is None:
        raise ValidationError(_("The adapter '%(name)s' of connection '%(conn)s' is not loaded.",
                                name=conn.adapter, conn=conn.name))
    return cls(conn.settings or {}, conn.secret, timeout=conn.timeout_seconds or 10, page_size=conn.page_size or 200)


def test_connection(ctx: ServiceContext, name: str) -> tuple[bool, str]:
    """Try the connection now; remember and return (ok, message)."""
    ctx.require("erp.sync.manage")
    conn = get_connection(ctx, name)
    adapter = None
    try:
        adapter = build_adapter(ctx, conn)
        message, ok = adapter.test_connection(), True
    except AdapterError as exc:
        message, ok = str(exc), False
    finally:
        if adapter is not None:
            adapter.close()
    conn.last_test_at, conn.last_test_result = utcnow(), (("ok: " if ok else "failed: ") + message)[:255]
    ctx.session.commit()
    return ok, message
