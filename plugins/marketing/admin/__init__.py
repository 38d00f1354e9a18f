"""Admin pages of the marketing plugin: audiences, templates, campaigns with their report, and consents."""
from __future__ import annotations

from typing import Any

from crmcore.i18n import lazy_gettext as _l

MARKETING = _l("Marketing")


def admin_views(db: Any) -> list[Any]:
    from .audiences import AudiencesView
    from .campaigns import CampaignsView
    from .consents import ConsentsView
    from .journeys import JourneysView
    from .messages import TemplatesView
    from .report import CampaignReportView

    return [
        AudiencesView(name=_l("Audiences"), endpoint="marketing_audiences", url="/admin/marketing/audiences",
                      category=MARKETING),
        TemplatesView(name=_l("Message templates"), endpoint="marketing_templates", url="/admin/marketing/templates",
                      category=MARKETING),
        CampaignsView(name=_l("Campaigns"), endpoint="marketing_campaigns", url="/admin/marketing/campaigns",
                      category=MARKETING),
        JourneysView(name=_l("Journeys"), endpoint="marketing_journeys", url="/admin/marketing/journeys",
                     category=MARKETING),
        CampaignReportView(name=_l("Campaign report"), endpoint="marketing_report", url="/admin/marketing/report",
                           category=MARKETING),
        ConsentsView(name=_l("Consents"), endpoint="marketing_consents", url="/admin/marketing/consents",
                     category=MARKETING),
    ]
