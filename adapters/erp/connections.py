"""ERP connections: create and change them (the secret is write-only), build their adapter, test them."""
from __future__ import annotations

import math
from typing import Any

from marshmallow import ValidationError as MarshmallowError
from sqlalchemy import select

from crmcore.db import utcnow
from crmcore.errors import AdapterError, NotFound, ValidationError
from crmcore.i18n import _
from crmcore.plugins import collected
from crmcore.services import outbox
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from .base import ErpAdapter, all_settings
from .models import ErpConnection
from .schemas import HTTP_URL, ConnectionSchema

FIELDS = ("name", "adapter", "settings", "streams", "ownership", "overlap_seconds", "timeout_seconds", "page_size",
          "push_enabled", "enabled")
_SCHEMA = ConnectionSchema()


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


def validate_connection(ctx: ServiceContext, data: dict[str, Any], existing: ErpConnection | None) -> dict[str, Any]:
    """A connection's input checked by ``ConnectionSchema`` (lengths from the model, a URL, known streams,
    ownership, number ranges; all fields for a new connection, those given for ``existing``), then an adapter
    that is loaded and the settings it needs: the one validation of the API, the admin and the CLI. Messages
    never repeat the secret or a setting's value."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        adapters = erp_adapters(ctx)
        name = values.get("adapter", existing.adapter if existing else None)
        if "adapter" in values and name not in adapters:
            errors["adapter"] = [_("Must be one of: %(choices)s.", choices=", ".join(sorted(adapters)))]
        if values.get("name"):
            other = ctx.session.scalar(select(ErpConnection.id).where(ErpConnection.name == values["name"]))
            if other is not None and (existing is None or other != existing.id):
                errors["name"] = [_("A connection named '%(name)s' exists already.", name=values["name"])]
        if "settings" in values or "adapter" in values:
            settings = values.get("settings", existing.settings if existing else {}) or {}
            errors.update(setting_errors(adapters.get(name), name, settings))
        return errors

    return load(_SCHEMA, data, partial=existing is not None, message=_("The connection is not valid."), check=check)


def _number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def setting_errors(cls: Any, name: str | None, settings: dict[str, Any]) -> dict[str, list[Any]]:
    """The problems of ``settings`` for the adapter class ``cls`` (None: not loaded), by ``settings.<key>``:
    a required setting missing, a value not of its declared kind (``base.Setting``); an undeclared ``url``
    must still be an http(s) address. Messages never repeat the value (settings may hold what should not
    be echoed)."""
    declared = {s.name: s for s in all_settings(cls)} if cls is not None else {}
    adapter = _(cls.label) if cls is not None and cls.label else (name or "")
    errors: dict[str, list[Any]] = {}
    for key, setting in declared.items():
        value = settings.get(key)
        if value in (None, ""):
            if setting.required:
                errors[f"settings.{key}"] = [_("%(adapter)s needs this setting.", adapter=adapter)]
        elif setting.kind == "number" and not _number(value):
            errors[f"settings.{key}"] = [_("Give a number.")]
        elif setting.kind == "bool" and not isinstance(value, bool):
            errors[f"settings.{key}"] = [_("Give yes or no (true or false).")]
    for key, value in settings.items():
        kind = declared[key].kind if key in declared else ("url" if key == "url" else "text")
        if kind == "url" and value not in (None, ""):
            try:
                HTTP_URL(value if isinstance(value, str) else "")
            except MarshmallowError:
                errors[f"settings.{key}"] = [_("Not a valid http(s) address.")]
    return errors


def save_connection(ctx: ServiceContext, data: dict[str, Any], name: str | None = None) -> ErpConnection:
    """Create a connection or change one; ``secret`` is set only when given and never read back."""
    ctx.require("erp.sync.manage")
    conn = get_connection(ctx, name) if name else None
    data = validate_connection(ctx, data, conn)
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
