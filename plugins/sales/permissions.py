"""The permissions the sales plugin checks, with the default roles that get each."""
from __future__ import annotations

from crmcore.contracts import Permission
from crmcore.i18n import _

READERS = ("manager", "sales", "analyst")
WRITERS = ("manager", "sales")

PERMISSIONS = [
    Permission("sales.lead.read", _("See leads"), READERS),
    Permission("sales.lead.write", _("Capture, change and qualify leads"), WRITERS),
    Permission("sales.lead.import", _("Import leads in bulk"), ("manager",)),
    Permission("sales.lead_form.manage", _("Set up the public lead forms"), ("manager",)),
    Permission("sales.opportunity.read", _("See opportunities and the pipeline"), READERS),
    Permission("sales.opportunity.write", _("Create opportunities and move them between stages"), WRITERS),
    Permission("sales.opportunity.import", _("Import opportunities in bulk"), ("manager",)),
    Permission("sales.stage.manage", _("Define opportunity stages"), ()),
    Permission("sales.product.read", _("See products and price lists"), READERS + ("service",)),
    Permission("sales.product.write", _("Change products and price lists"), ("manager",)),
    Permission("sales.quote.read", _("See quotes"), READERS),
    Permission("sales.quote.write", _("Write and submit quotes, turn them into orders"), WRITERS),
    Permission("sales.quote.approve", _("Approve or reject discounted quotes"), ("manager",)),
    Permission("sales.order.read", _("See orders, invoices and payments"), READERS + ("service",)),
    Permission("sales.order.write", _("Record orders, invoices and payments (ERP sync)"), ("manager",)),
    Permission("sales.coupon.read", _("See coupon programmes, their codes and usage"), READERS),
    Permission("sales.coupon.manage", _("Set up coupon programmes and generate codes"), ("manager",)),
    Permission("sales.coupon.issue", _("Issue a coupon code to a customer"), WRITERS),
    Permission("sales.activity.read", _("See tasks, calls and visits"), READERS),
    Permission("sales.activity.write", _("Plan and complete tasks, calls and visits"), WRITERS),
    Permission("sales.expense.write", _("Record sales expenses"), WRITERS),
    Permission("sales.target.read", _("See monthly sales plans"), READERS),
    Permission("sales.target.manage", _("Set monthly sales plans"), ("manager",)),
    Permission("sales.kpi.read", _("See sales KPIs and shared metrics"), READERS),
    Permission("sales.metric.manage", _("Define custom metrics and share them"), ()),
    Permission("sales.rate.manage", _("Set exchange rates"), ()),
]
