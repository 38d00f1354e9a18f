"""The permissions the analysis plugin checks, with the default roles that get each, and its audited entities."""
from __future__ import annotations

from crmcore.contracts import AuditEntity, Permission

PERMISSIONS = [
    Permission("analysis.read", "See RFM segments, CLV, churn scores, cohorts and customer profiles",
               ("manager", "sales", "analyst")),
    Permission("analysis.run", "Run the analyses (RFM, CLV, churn, basket, tags) and store their results",
               ("manager", "analyst")),
    Permission("analysis.export", "Download analysis tables as CSV", ("manager", "analyst")),
    Permission("analysis.manage", "Edit RFM segments and customer tag rules", ("manager",)),
]

# Audit entries of the analysis tables are shown to who may read the analyses.
AUDIT_ENTITIES = [AuditEntity(name, "analysis.read") for name in (
    "analysis_tag_rule", "analysis_segment_rule", "analysis_rfm", "analysis_clv", "analysis_churn", "analysis_basket")]
