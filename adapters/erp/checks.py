"""``crm check`` for the ERP sync: each enabled connection answers (the same test as the admin's button)."""
from __future__ import annotations


from crmcore.contracts import Check, Finding
from crmcore.i18n import _
from crmcore.runtime import ServiceContext

from .connections import list_connections, test_connection


def check_connections(ctx: ServiceContext) -> list[Finding]:
    findings = []
    for conn in list_connections(ctx, enabled=True):
        try:
            ok, message = test_connection(ctx, conn.name)
        except Exception as exc:  # noqa: BLE001 - a connection that cannot even be built is a finding too
            ctx.session.rollback()
            ok, message = False, f"{type(exc).__name__}: {exc}"
        if ok:
            findings.append(Finding("ok", "erp", str(_("ERP connection %(name)s answers: %(message)s",
                                                       name=conn.name, message=message))))
        else:
            findings.append(Finding("error", "erp", str(_("ERP connection %(name)s cannot be used: %(reason)s",
                                                          name=conn.name, reason=message[:300]))))
    return findings


CHECKS = [Check("erp.connections", check_connections, "Each enabled ERP connection answers")]
