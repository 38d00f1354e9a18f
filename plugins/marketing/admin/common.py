"""Helpers shared by the marketing admin pages: field errors as text, customers found by name in scope."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.errors import CRMError
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services.access import scope_customers

from ..models import CHANNELS, PURPOSES
from crmcore.i18n import lazy_gettext as _l

CHANNEL_LABELS = {"email": _l("E-mail"), "sms": _l("SMS"), "wechat": _l("WeChat"), "wecom": _l("WeCom"), "phone": _l("Phone")}
PURPOSE_LABELS = {"marketing": _l("Marketing"), "service": _l("Service messages")}


def field_errors(exc: CRMError) -> dict[str, list[str]]:
    """The error's messages by field, as text (nested keys joined by dots)."""
    out: dict[str, list[str]] = {}

    def walk(errors: Any, prefix: str) -> None:
        for key, value in (errors or {}).items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = [str(m) for m in (value if isinstance(value, (list, tuple)) else [value])]

    walk(exc.errors, "")
    return out


def find_customers(ctx: ServiceContext, name: str, limit: int = 20) -> list[Customer]:
    """Live customers the actor may see whose name contains ``name`` in any case (by name)."""
    name = (name or "").strip()
    if not name:
        return []
    stmt = select(Customer).where(Customer.name.icontains(name, autoescape=True), Customer.deleted_at.is_(None),
                                  Customer.merged_into_id.is_(None))
    return list(ctx.session.scalars(scope_customers(ctx, stmt).order_by(Customer.name).limit(limit)))


def channel_choices() -> list[tuple[str, str]]:
    return [(c, str(CHANNEL_LABELS[c])) for c in CHANNELS]


def purpose_choices() -> list[tuple[str, str]]:
    return [(p, str(PURPOSE_LABELS[p])) for p in PURPOSES]
