"""Admin views of the sales plugin: records (leads, opportunities, stages, catalogue, quotes,
orders, invoices, activities, plans, metrics), quotes as documents with their editor, the pipeline board
and the KPI dashboard."""
from __future__ import annotations

from typing import Any

from crmcore.i18n import lazy_gettext as _l

from ..models import (Activity, Invoice, Lead, Metric, Opportunity, Order, Product, Quote, SalesTarget, Stage)

SALES = _l("Sales")


def admin_views(db: Any) -> list[Any]:
    """The sales views in menu order, all under the "Sales" menu."""
    from ..models_coupons import CouponProgramme
    from ..webform_models import LeadForm
    from .coupons import CouponCodesView, CouponProgrammeView
    from .lead_forms import LeadFormView
    from .pages import BoardView, KpiDashboardView
    from .plans import MetricView, TargetView
    from .quotes import QuoteDocumentView
    from .records import ActivityView, InvoiceView, LeadView, OpportunityView, OrderView, ProductView, StageView

    return [
        BoardView(name=_l("Pipeline board"), endpoint="sales_board", url="/admin/sales/board", category=SALES),
        KpiDashboardView(name=_l("KPI dashboard"), endpoint="sales_dashboard", url="/admin/sales/kpis", category=SALES),
        LeadView(Lead, db, name=_l("Leads"), endpoint="sales_lead", url="/admin/sales/lead", category=SALES),
        OpportunityView(Opportunity, db, name=_l("Opportunities"), endpoint="sales_opportunity",
                        url="/admin/sales/opportunity", category=SALES),
        ActivityView(Activity, db, name=_l("Activities"), endpoint="sales_activity", url="/admin/sales/activity",
                     category=SALES),
        QuoteDocumentView(Quote, db, name=_l("Quotes"), endpoint="sales_quote", url="/admin/sales/quote", category=SALES),
        OrderView(Order, db, name=_l("Orders"), endpoint="sales_order", url="/admin/sales/order", category=SALES),
        InvoiceView(Invoice, db, name=_l("Invoices"), endpoint="sales_invoice", url="/admin/sales/invoice",
                    category=SALES),
        CouponProgrammeView(CouponProgramme, db, name=_l("Coupon programmes"), endpoint="sales_coupon_programme",
                            url="/admin/sales/coupon-programme", category=SALES),
        CouponCodesView(name=_l("Coupon codes and usage"), endpoint="sales_coupon_codes", url="/admin/sales/coupons",
                        category=SALES),
        ProductView(Product, db, name=_l("Products"), endpoint="sales_product", url="/admin/sales/product",
                    category=SALES),
        TargetView(SalesTarget, db, name=_l("Sales plans"), endpoint="sales_target", url="/admin/sales/target",
                   category=SALES),
        StageView(Stage, db, name=_l("Stages"), endpoint="sales_stage", url="/admin/sales/stage", category=SALES),
        MetricView(Metric, db, name=_l("Custom metrics"), endpoint="sales_metric", url="/admin/sales/metric",
                   category=SALES),
        LeadFormView(LeadForm, db, name=_l("Lead forms"), endpoint="sales_lead_form", url="/admin/sales/lead-form",
                     category=SALES),
    ]
