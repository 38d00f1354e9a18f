"""The 7P profile of one customer (DOMAIN.md section 2): profiling, persistency, profitability,
performance, prospecting, product and promotion, from the customer record, the sales orders,
invoices and lines, and the stored analysis results; also the customer 360 panel."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select

from crmcore.contracts import Panel
from crmcore.i18n import _, local_money, local_percent
from crmcore.models import Address
from crmcore.services.customers import get_customer
from crmcore.runtime import ServiceContext
from plugins.sales.models import Invoice, Lead, Order, OrderLine, Product
from plugins.sales.services.money import base_currency, cents, converted, unconvertible

from ..models import ChurnScore, ClvScore, RfmScore
from .checks import missing_rates, warning
from .loyalty import discounted
from .sqlfuncs import SOLD


def _latest(ctx: ServiceContext, model: Any, customer_id: int) -> Any:
    return ctx.session.scalar(select(model).where(model.customer_id == customer_id)
                              .order_by(model.run_date.desc()).limit(1))


def _unconverted(ctx: ServiceContext, customer_id: int, currency: str) -> list[dict[str, Any]]:
    """Warnings for the amounts of this customer the profile cannot convert to ``currency``: orders,
    open invoices and product costs in a currency without a rate (left out of the sums)."""
    out = missing_rates(ctx, dt.date.max, currency, customer_id=customer_id)
    invoices = ctx.session.execute(
        select(Invoice.currency, func.count(Invoice.id))
        .where(Invoice.customer_id == customer_id, Invoice.state.in_(("open", "partial")),
               unconvertible(ctx, Invoice.currency, currency)).group_by(Invoice.currency).order_by(Invoice.currency))
    out += [warning("missing_rate_invoices", source=cur, target=currency, invoices=int(n)) for cur, n in invoices]
    costs = ctx.session.execute(
        select(Product.currency, func.count(OrderLine.id)).join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(Order.customer_id == customer_id, Order.status.in_(SOLD), Product.cost.is_not(None),
               unconvertible(ctx, Product.currency, currency)).group_by(Product.currency).order_by(Product.currency))
    out += [warning("missing_rate_costs", source=cur, target=currency, lines=int(n)) for cur, n in costs]
    return out


def _alive(clv: Any) -> float | None:
    """P(alive) where it means something: BG/NBD says 1 for every one-time buyer (stored empty)."""
    return round(clv.p_alive, 4) if clv is not None and clv.p_alive is not None else None


def profile(ctx: ServiceContext, customer_id: int, currency: str | None = None) -> dict[str, Any]:
    """Everything the 7P view shows for a customer in the actor's scope; amounts in ``currency`` (the base
    currency by default), each order, line, cost and invoice converted from its own currency."""
    ctx.require("analysis.read")
    c = get_customer(ctx, customer_id)
    currency = (currency or base_currency(ctx)).upper()
    sold = (Order.customer_id == c.id) & Order.status.in_(SOLD)
    total = converted(ctx, Order.total, Order.currency, currency)
    line = converted(ctx, OrderLine.line_total, Order.currency, currency)
    line_cost = converted(ctx, OrderLine.quantity * Product.cost, Product.currency, currency)
    first, last, orders, revenue = ctx.session.execute(
        select(func.min(Order.order_date), func.max(Order.order_date), func.count(Order.id),
               func.coalesce(func.sum(total), 0)).where(sold)).one()
    line_q = (select(func.coalesce(func.sum(line), 0),
                     func.coalesce(func.sum(case((Product.cost.is_not(None), line), else_=0)), 0),
                     func.coalesce(func.sum(line_cost), 0),
                     func.count(OrderLine.id), func.sum(case((discounted(), 1), else_=0)),
                     func.coalesce(func.sum(case((discounted(), line), else_=0)), 0))
              .join(Order, Order.id == OrderLine.order_id).outerjoin(Product, Product.id == OrderLine.product_id)
              .where(sold))
    line_total, costed_revenue, cost, n_lines, n_disc, disc_amount = ctx.session.execute(line_q).one()
    costed_revenue, cost = cents(costed_revenue), cents(cost)
    due = ctx.session.scalar(select(func.coalesce(func.sum(converted(
        ctx, Invoice.amount_total - Invoice.amount_paid, Invoice.currency, currency)), 0))
                             .where(Invoice.customer_id == c.id, Invoice.state.in_(("open", "partial"))))
    by_category = [{"category": cat or "-", "amount": cents(amt or 0), "lines": n} for cat, amt, n in ctx.session.execute(
        select(Product.category, func.sum(line), func.count(OrderLine.id))
        .join(Order, Order.id == OrderLine.order_id).outerjoin(Product, Product.id == OrderLine.product_id)
        .where(sold).group_by(Product.category).order_by(func.sum(line).desc()))]
    by_channel = [{"channel": src, "orders": n, "amount": cents(amt or 0)} for src, n, amt in ctx.session.execute(
        select(Order.source, func.count(Order.id), func.sum(total)).where(sold).group_by(Order.source))]
    top_products = [{"product_id": pid, "name": name, "quantity": qty, "amount": cents(amt or 0)}
                    for pid, name, qty, amt in ctx.session.execute(
                        select(Product.id, Product.name, func.sum(OrderLine.quantity), func.sum(line))
                        .join(Order, Order.id == OrderLine.order_id).join(Product, Product.id == OrderLine.product_id)
                        .where(sold).group_by(Product.id, Product.name)
                        .order_by(func.sum(line).desc()).limit(10))]
    region = ctx.session.scalar(select(Address.region).where(Address.customer_id == c.id)
                                .order_by(Address.is_primary.desc(), Address.id).limit(1))
    campaigns = sorted({x for x in ctx.session.scalars(select(Lead.campaign).where(Lead.customer_id == c.id)) if x})
    rfm, clv, churn = (_latest(ctx, m, c.id) for m in (RfmScore, ClvScore, ChurnScore))
    history = [{"run_date": d, "segment": s} for d, s in ctx.session.execute(
        select(RfmScore.run_date, RfmScore.segment).where(RfmScore.customer_id == c.id).order_by(RfmScore.run_date))]
    from .basket import suggestions_for

    tenure = (dt.datetime.now(dt.timezone.utc).date() - first).days if first else None
    return {
        "customer_id": c.id, "name": c.name,
        "profile": {"kind": c.kind, "stage": c.stage, "level": c.level, "industry": c.industry,
                    "source_channel": c.source_channel, "owner_id": c.owner_id, "credit_limit": c.credit_limit,
                    "currency": c.currency, "tags": [t.name for t in c.tags], "completeness": c.completeness},
        "persistency": {"first_order": first, "last_order": last, "orders": int(orders), "tenure_days": tenure,
                        "mean_days_between_orders": round((last - first).days / (orders - 1), 1)
                        if orders and orders > 1 else None, "segment_history": history},
        "currency": currency,
        "profitability": {"revenue": cents(revenue), "cost": cost if costed_revenue else None,
                          "margin": (costed_revenue - cost) if costed_revenue else None,
                          "margin_rate": round((costed_revenue - cost) / costed_revenue, 4) if costed_revenue else None,
                          "cost_coverage": round(costed_revenue / Decimal(line_total), 4) if line_total else None,
                          "amount_due": cents(due)},
        "performance": {"by_category": by_category, "by_channel": by_channel, "region": region},
        "prospecting": {"segment": rfm.segment if rfm else None,
                        "rfm": {"r": rfm.r_score, "f": rfm.f_score, "m": rfm.m_score} if rfm else None,
                        "clv": clv.clv if clv else None, "p_alive": _alive(clv),
                        "expected_purchases": round(clv.expected_purchases, 3) if clv else None,
                        "churn_score": round(churn.churn_score, 4) if churn else None,
                        "churn_model": _churn_model(ctx, churn)},
        "product": {"top_products": top_products,
                    "suggestions": [s.to_dict() for s in suggestions_for(ctx, c, limit=5)]},
        "promotion": {"discounted_lines": int(n_disc or 0), "order_lines": int(n_lines or 0),
                      "discount_share": round(int(n_disc or 0) / int(n_lines), 4) if n_lines else None,
                      "discounted_amount": cents(disc_amount), "campaigns": campaigns},
        "warnings": _unconverted(ctx, c.id, currency),
    }


def _churn_model(ctx: ServiceContext, churn: Any) -> dict[str, Any] | None:
    """The AUC and caveats of the model that gave this customer's churn score."""
    from .churn import latest_model

    return latest_model(ctx, churn.run_date) if churn is not None else None


def customer_panel(ctx: ServiceContext, customer: Any) -> list[Panel]:
    """A small "Value" section on the customer 360 view for users who may read the analysis."""
    if not ctx.can("analysis.read"):
        return []
    rfm, clv, churn = (_latest(ctx, m, customer.id) for m in (RfmScore, ClvScore, ChurnScore))
    if rfm is None and clv is None and churn is None:
        return []
    rows: list[tuple[str, Any]] = []
    if rfm is not None:
        from .segments import segment_labels

        rows += [(str(_("Segment")), segment_labels(ctx).get(rfm.segment or "", rfm.segment or "-")), (str(_("RFM")), f"{rfm.r_score}{rfm.f_score}{rfm.m_score}")]
    if clv is not None:
        rows.append((str(_("Lifetime value")), local_money(clv.clv, clv.currency)))
        rows += [(str(_("Warning")), w["message"])
                 for w in missing_rates(ctx, clv.run_date, clv.currency, customer_id=customer.id)]
        if clv.p_alive is not None:
            rows.append((str(_("P(alive), repeat buyers only")), local_percent(clv.p_alive, 0)))
    if churn is not None:
        model = _churn_model(ctx, churn)
        rows.append((str(_("Churn risk")), local_percent(churn.churn_score, 0)))
        if model is not None and not model["reliable"]:
            rows.append((str(_("Churn model")), str(_(
                "Not reliable (AUC %(auc)s on the held-out period): do not act on this score.",
                auc=f"{model['auc']:.2f}"))))
        elif model is not None:  # the quality travels with the score, a weak one with its caveat in words
            weak = [w["message"] for w in model["warnings"] if w.get("code") == "auc_weak"]
            rows.append((str(_("Churn model")), " ".join([str(_(
                "AUC %(auc)s on the held-out period, tested on %(n)s customers.",
                auc=f"{model['auc']:.2f}", n=model["test_customers"]))] + weak)))
    return [Panel(key="analysis", title=str(_("Customer value")), rows=rows, order=60)]
