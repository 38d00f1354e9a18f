"""The customer distribution page: customers, buyers, revenue and growth by province, city, source
channel, RFM segment or owner, as ranked bars, a map of places (by their coordinates) and a table."""
from __future__ import annotations

from typing import Any

from flask import request
from flask_admin import expose

from crmcore.admin.views import SecureView
from crmcore.i18n import gettext, lazy_gettext as _l
from plugins.sales.admin.records import code_label

from ..services import distribution as dist
from .charts import bar_chart, bubble_map

DIMENSION_LABELS = {"province": _l("Province"), "city": _l("City"), "channel": _l("Source channel"),
                    "segment": _l("RFM segment"), "owner": _l("Owner")}
PERIODS = (3, 6, 12, 24)
BARS = 15


class DistributionView(SecureView):
    permission = "analysis.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        by = request.args.get("by", "province")
        by = by if by in dist.DIMENSIONS else "province"
        months = request.args.get("months", 12, type=int)
        months = months if months in PERIODS else 12
        data = dist.distribution(ctx, by, months=months)
        if by == "channel":
            for row in data["rows"]:
                row["label"] = code_label(row["label"])
        top = data["rows"][:BARS]
        bars = bar_chart([r["label"] for r in top], [(gettext("Customers"), [r["customers"] for r in top])],
                         title=gettext("Customers by %(dimension)s", dimension=DIMENSION_LABELS[by]),
                         width=max(640, 56 * len(top)))
        revenue = bar_chart([r["label"] for r in top], [(gettext("Revenue"), [round(r["revenue"]) for r in top]),
                                                        (gettext("The period before"), [round(r["previous"]) for r in top])],
                            title=gettext("Revenue by %(dimension)s", dimension=DIMENSION_LABELS[by]),
                            width=max(640, 56 * len(top)))
        placed = by in ("province", "city")
        chart_map = bubble_map(data["rows"], title=gettext("Customers on the map"),
                               value_text=lambda n: gettext("%(n)s customers", n=n)) if placed and data["rows"] else None
        return self.render("admin/analysis/distribution.html", data=data, by=by, months=months, bars=bars,
                           revenue=revenue, chart_map=chart_map, placed=placed, periods=PERIODS,
                           dimensions=[(k, DIMENSION_LABELS[k]) for k in dist.DIMENSIONS])
