"""``crm check`` for the OA adapter: each OA that an active approval policy routes to is loaded, has
its secrets and answers at its address (nothing is submitted)."""
from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from crmcore.contracts import Check, Finding
from crmcore.i18n import _
from crmcore.models import ApprovalPolicy
from crmcore.services.approvals import INTERNAL
from crmcore.runtime import ServiceContext


def _address(oa: Any) -> str | None:
    return str(oa.config.get("base_url") or getattr(oa, "base", "") or "") or None


def check_providers(ctx: ServiceContext) -> list[Finding]:
    names = sorted(set(ctx.session.scalars(select(ApprovalPolicy.provider).where(
        ApprovalPolicy.active.is_(True), ApprovalPolicy.provider != INTERNAL))))
    findings = []
    for name in names:
        cls = ctx.registry.oa_providers.get(name)
        if cls is None:
            findings.append(Finding("error", "oa", str(_("Approval policies route to the OA %(name)s, which no "
                                                         "loaded plugin provides.", name=name))))
            continue
        from .settings import provider

        oa = provider(ctx, name)
        missing = [key for key in cls.secret_fields if oa.secrets.get(key) in (None, "")]
        if missing:
            findings.append(Finding("error", "oa", str(_("The OA %(name)s lacks settings: %(keys)s (admin: OA "
                                                         "providers).", name=name, keys=", ".join(missing)))))
        url = _address(oa)
        parts = urlsplit(url or "")
        if not parts.hostname:
            findings.append(Finding("error", "oa", str(_("The OA %(name)s has no address (base_url).", name=name))))
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=10).close()
        except OSError as exc:
            findings.append(Finding("error", "oa", str(_("The OA %(name)s at %(url)s cannot be reached: %(reason)s",
                                                         name=name, url=url, reason=f"{type(exc).__name__}: {exc}"))))
        else:
            findings.append(Finding("ok", "oa", str(_("The OA %(name)s at %(url)s answers.", name=name, url=url))))
    return findings


CHECKS = [Check("oa.providers", check_providers, "Each OA an approval policy uses answers")]
