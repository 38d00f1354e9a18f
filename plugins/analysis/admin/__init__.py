"""Admin views of the analysis plugin: the dashboard (segments, retention, CLV, rules, CSV links), the forecast,
the 7P customer profile page, and the segment and tag rule tables."""
from __future__ import annotations

from typing import Any

from crmcore.i18n import lazy_gettext as _l

ANALYSIS = _l("Analysis")


def admin_views(db: Any) -> list[Any]:
    from ..models import SegmentRule, TagRule
    from .distribution import DistributionView
    from .forecast import ForecastView
    from .pages import DashboardView, ProfileView
    from .records import SegmentRuleView, TagRuleView

    return [
        DashboardView(name=_l("Dashboard"), endpoint="analysis_dashboard", url="/admin/analysis/dashboard",
                      category=ANALYSIS),
        DistributionView(name=_l("Customer distribution"), endpoint="analysis_distribution",
                         url="/admin/analysis/distribution", category=ANALYSIS),
        ForecastView(name=_l("Forecast"), endpoint="analysis_forecast", url="/admin/analysis/forecast",
                     category=ANALYSIS),
        ProfileView(name=_l("Customer profile (7P)"), endpoint="analysis_profile", url="/admin/analysis/profile",
                    category=ANALYSIS),
        SegmentRuleView(SegmentRule, db, name=_l("RFM segments"), endpoint="analysis_segment",
                        url="/admin/analysis/segment", category=ANALYSIS),
        TagRuleView(TagRule, db, name=_l("Tag rules"), endpoint="analysis_tag_rule", url="/admin/analysis/tag-rule",
                    category=ANALYSIS),
    ]
