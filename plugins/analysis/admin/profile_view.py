"""The 7P profile in the reader's words: labelled rows and tables built from the profile service's data."""
from __future__ import annotations

from typing import Any

from crmcore.admin.forms import code_label
from crmcore.i18n import lazy_gettext as _l, local_percent
from crmcore.models import User
from crmcore.runtime import ServiceContext
from plugins.sales.models import Product

from ..services.segments import segment_labels

Rows = list[tuple[str, Any]]
Table = tuple[list[str], list[list[Any]]]


def _pct(v: Any) -> str | None:
    return None if v is None else local_percent(v, 1)


def _owner(ctx: ServiceContext, owner_id: Any) -> str | None:
    user = ctx.session.get(User, owner_id) if owner_id else None
    return None if user is None else (user.full_name or user.username)


def sections(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """Each 7P section as labelled rows (codes shown as labels, the owner by name, rates in percent)
    and its lists as tables with labelled headers."""
    p, ps, pf, pr, pm = (data["profile"], data["persistency"], data["profitability"], data["prospecting"],
                         data["promotion"])
    rfm = pr.get("rfm")
    names = segment_labels(ctx)

    def seg(code: Any) -> str | None:
        return None if code is None else names.get(code, code_label(code))

    def product(pid: Any) -> str:
        item = ctx.session.get(Product, pid) if pid else None
        return item.name if item is not None else ""
    return {
        "profile": [(_l("Kind"), code_label(p["kind"])), (_l("Stage"), code_label(p["stage"])),
                    (_l("Level"), code_label(p["level"])), (_l("Industry"), p["industry"]),
                    (_l("Source channel"), code_label(p["source_channel"])), (_l("Owner"), _owner(ctx, p["owner_id"])),
                    (_l("Credit limit"), p["credit_limit"]), (_l("Currency"), p["currency"]),
                    (_l("Completeness"), p["completeness"])],
        "persistency": [(_l("First order"), ps["first_order"]), (_l("Last order"), ps["last_order"]),
                        (_l("Orders"), ps["orders"]), (_l("Tenure (days)"), ps["tenure_days"]),
                        (_l("Mean days between orders"), ps["mean_days_between_orders"])],
        "history": ([str(_l("Date")), str(_l("Segment"))],
                    [[h["run_date"], seg(h["segment"])] for h in ps["segment_history"]]),
        "profitability": [(_l("Revenue"), pf["revenue"]), (_l("Cost"), pf["cost"]), (_l("Margin"), pf["margin"]),
                          (_l("Margin rate"), _pct(pf["margin_rate"])),
                          (_l("Share of revenue with a known cost"), _pct(pf["cost_coverage"])),
                          (_l("Amount due"), pf["amount_due"])],
        "by_category": ([str(_l("Category")), str(_l("Amount")), str(_l("Order lines"))],
                        [[c["category"], c["amount"], c["lines"]] for c in data["performance"]["by_category"]]),
        "by_channel": ([str(_l("Channel")), str(_l("Orders")), str(_l("Amount"))],
                       [[code_label(c["channel"]), c["orders"], c["amount"]] for c in data["performance"]["by_channel"]]),
        "prospecting": [(_l("Segment"), seg(pr["segment"])),
                        (_l("RFM scores (R / F / M)"), f"{rfm['r']} / {rfm['f']} / {rfm['m']}" if rfm else None),
                        (_l("Lifetime value"), pr["clv"]), (_l("Probability still active"), _pct(pr["p_alive"])),
                        (_l("Expected purchases"), pr["expected_purchases"]),
                        (_l("Churn risk"), _pct(pr["churn_score"]))],
        "top_products": ([str(_l("Product")), str(_l("Quantity")), str(_l("Amount"))],
                         [[t["name"], t["quantity"], t["amount"]] for t in data["product"]["top_products"]]),
        "suggestions": ([str(_l("Suggested product")), str(_l("Why"))],
                        [[product(s.get("product_id")), "; ".join(s.get("reasons") or [])] for s in data["product"]["suggestions"]]),
        "promotion": [(_l("Order lines on discount"), pm["discounted_lines"]), (_l("Order lines"), pm["order_lines"]),
                      (_l("Discount share"), _pct(pm["discount_share"])),
                      (_l("Discounted amount"), pm["discounted_amount"])],
    }
