"""The permissions the ERP sync checks."""
from __future__ import annotations

from crmcore.contracts import Permission

PERMISSIONS = [
    Permission("erp.sync.read", "See ERP connections, stream status and sync issues", ("manager",)),
    Permission("erp.sync.manage", "Configure ERP connections, run the sync, retry sync issues", ()),
    Permission("erp.finance.read", "See a customer's ERP finance (invoices, amount due, credit)",
               ("manager", "sales", "service", "analyst")),
]
