"""The permissions the sales plugin checks, with the default roles that get each."""
from __future__ import annotations

from crmcore.contracts import Permission

READERS = ("manager", "sales", "analyst")
WRITERS = ("manager", "sales")

PERMISSIONS = [
    Permission("sales.lead.read", "See leads", READERS),
    Permission("sales.lead.write", "Capture, change and qualify leads", WRITERS),
    Permission("sales.lead.import", "Import leads in bulk", ("manager",)),
    Permission("sales.opportunity.read", "See opportunities and the pipeline", READERS),
    Permission("sales.opportunity.write", "Create opportunities and move them between stages", WRITERS),
    Permission("sales.stage.manage", "Define opportunity stages", ()),
    Permission("sales.product.read", "See products and price lists", READERS + ("service",)),
    Permission("sales.product.write", "Change products and price lists", ("manager",)),
    Permission("sales.quote.read", "See quotes", READERS),
    Permission("sales.quote.write", "Write and submit quotes, turn them into orders", WRITERS),
    Permission("sales.quote.approve", "Approve or reject discounted quotes", ("manager",)),
    Permission("sales.order.read", "See orders, invoices and payments", READERS + ("service",)),
    Permission("sales.order.write", "Record orders, invoices and payments (ERP sync)", ("manager",)),
    Permission("sales.activity.read", "See tasks, calls and visits", READERS),
    Permission("sales.activity.write", "Plan and complete tasks, calls and visits", WRITERS),
    Permission("sales.expense.write", "Record sales expenses", WRITERS),
    Permission("sales.target.read", "See monthly sales plans", READERS),
    Permission("sales.target.manage", "Set monthly sales plans", ("manager",)),
    Permission("sales.kpi.read", "See sales KPIs and shared metrics", READERS),
    Permission("sales.metric.manage", "Define custom metrics and share them", ()),
    Permission("sales.rate.manage", "Set exchange rates", ()),
]
