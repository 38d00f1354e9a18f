"""Hook specifications the sales plugin owns; other plugins (analysis, service, workflow) implement them.

Added to the plugin manager when the sales plugin registers (its ``CRM_HOOKSPECS``). A plugin
that implements one of these without requiring ``sales`` marks the impl ``optionalhook=True``.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from crmcore import hookspec

if TYPE_CHECKING:  # real types for readers, not imported at run time
    from sqlalchemy import Select

    from crmcore.models import Customer
    from crmcore.runtime import ServiceContext

    from .contracts import Suggestion
    from .models import Metric, Opportunity, Quote

# ---------------------------------------------------------------------------
# Sales: cross-selling, complaints, discount approval
# ---------------------------------------------------------------------------


@hookspec
def crm_sales_cross_sell(ctx: ServiceContext, customer: Customer, opportunity: Opportunity | None) -> list[Suggestion]:
    """Suggest products to offer a customer, shown on the opportunity and the customer.

    Called each time suggestions are shown (``GET .../suggestions``, the customer 360 panel).
    Results of every plugin are merged per product; the highest score wins and reasons join.

    :param ctx: the ``ServiceContext`` of the viewer.
    :param customer: the ``Customer``.
    :param opportunity: the ``plugins.sales.models.Opportunity`` being viewed, or None on the
        customer's page.
    :return: a list of ``plugins.sales.contracts.Suggestion``.
    """


@hookspec(firstresult=True)
def crm_sales_complaints(ctx: ServiceContext, customer_ids: Select[Any], start: dt.datetime, end: dt.datetime
                         ) -> int | None:
    """Count the complaints received from some customers in a period (the complaint-rate KPI).

    Called by the KPI service. The service plugin answers from its tickets; when no plugin
    answers, the complaint rate is absent (not zero). Stops at first non-None result.

    :param ctx: the ``ServiceContext``.
    :param customer_ids: a SQLAlchemy select of ``customers.id`` (use ``column.in_(customer_ids)``).
    :param start: period start, inclusive, timezone-aware UTC.
    :param end: period end, exclusive, timezone-aware UTC.
    :return: the number of complaints, or None if the plugin does not track complaints.
    """


@hookspec(firstresult=True)
def crm_sales_discount_approval(ctx: ServiceContext, quote: Quote) -> bool | None:
    """Decide whether a submitted quote needs approval before it may be sent or ordered.

    Called by ``submit_quote`` inside its transaction. The workflow plugin answers from its
    approval policies; without an answer the quote needs approval when a line discount or the
    overall discount exceeds the ``SALES_DISCOUNT_APPROVAL_THRESHOLD`` setting (percent).
    Stops at first non-None result.

    :param ctx: the ``ServiceContext`` of the submitter.
    :param quote: the ``plugins.sales.models.Quote`` with its lines and totals computed.
    :return: True (approval needed), False (approve now) or None (use the threshold).
    """


@hookspec(firstresult=True)
def crm_sales_metric_report(ctx: ServiceContext, metric: Metric) -> dict[str, Any] | None:
    """Name the report that defines a metric, so the metric shows that definition: one truth.

    Called by the metric service when a metric is shown (API, admin) and before it is changed.
    The reports plugin answers with the report of the metric's name (and entity). Stops at
    first non-None result.

    :param ctx: the ``ServiceContext``.
    :param metric: the ``plugins.sales.models.Metric``.
    :return: ``{"id", "name", "entity", "filters", "measure": {"agg", "field"}, "mirror": bool}``
        (``mirror``: the report is the metric's own copy, written from it; else a person's
        report, which the metric may not change), or None when no report defines the metric.
    """


@hookspec(firstresult=True)
def crm_sales_metric_value(ctx: ServiceContext, metric: Metric, where: tuple[Any, ...], currency: str
                           ) -> dict[str, Any] | None:
    """Compute a metric's number by running its report: one way to define and compute a number.

    Called by the metric service each time a metric's value is shown (the KPI page, the API's
    ``/metrics/<id>/value``). The reports plugin answers with the report of the metric's name
    (made from the metric by its migration) or, without one, the metric's definition run as a
    report; with no answer the sales plugin computes the number itself (reports not installed).
    Stops at first non-None result.

    :param ctx: the ``ServiceContext`` of the viewer (the report applies their record rules).
    :param metric: the ``plugins.sales.models.Metric``.
    :param where: SQL conditions on the metric entity's columns: the period and the subject.
    :param currency: the currency amounts are converted to.
    :return: ``{"value": raw aggregate or None, "report": the report's name or None}``, or None
        when the plugin cannot run this metric (an entity it does not know).
    """
